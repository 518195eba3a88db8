// Independent readers of what smtpkit composes: Python's stdlib email package (policy=default), mailparser,
// dkimpy (Debian python3-dkim) and mailauth, each given the public keys through a stub DNS resolver.
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { Readable } from "node:stream";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";

/** Debian's python, which has python3-dkim (the `python3` on PATH may be another one). */
export const PYTHON = "/usr/bin/python3";

/** One part as Python's email package reads it. */
export interface PyPart {
  type: string;
  parts?: PyPart[];
  filename?: string | null;
  cid?: string | null;
  disposition?: string | null;
  cte?: string | null;
  charset?: string | null;
  method?: string | null;
  sha256?: string;
  text?: string | null;
}

export interface PyMessage {
  subject: string;
  from: string;
  to: string | null;
  replyTo: string | null;
  headers: [string, string][];
  defects: string[];
  tree: PyPart;
}

const PARSE = `
import sys, json, hashlib, email
from email import policy
raw = sys.stdin.buffer.read()
msg = email.message_from_bytes(raw, policy=policy.default)
defects = []
def walk(part):
    defects.extend(type(d).__name__ for d in part.defects)
    ct = part.get_content_type()
    if part.is_multipart():
        return {"type": ct, "parts": [walk(p) for p in part.iter_parts()]}
    data = part.get_payload(decode=True) or b""
    text = part.get_content() if part.get_content_maintype() == "text" else None
    return {"type": ct, "filename": part.get_filename(), "cid": part.get("Content-ID"),
            "disposition": part.get_content_disposition(), "cte": part.get("Content-Transfer-Encoding"),
            "charset": part.get_param("charset"), "method": part.get_param("method"),
            "sha256": hashlib.sha256(data).hexdigest(), "text": text}
tree = walk(msg)
print(json.dumps({"subject": str(msg["subject"]), "from": str(msg["from"]),
    "to": str(msg["to"]) if msg["to"] is not None else None,
    "replyTo": str(msg["reply-to"]) if msg["reply-to"] is not None else None,
    "headers": [[k, str(v)] for k, v in msg.items()], "defects": defects, "tree": tree}))
`;

/** Parses a message with Python's email package (policy=default). */
export function parseWithPython(raw: Uint8Array): PyMessage {
  const result = spawnSync(PYTHON, ["-c", PARSE], {
    input: raw,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`python email: ${result.stderr}`);
  return JSON.parse(result.stdout) as PyMessage;
}

/** Content types of a Python-parsed tree, nested: "multipart/mixed(text/plain,image/png)". */
export function shapeOf(part: PyPart): string {
  return part.parts === undefined ? part.type : `${part.type}(${part.parts.map(shapeOf).join(",")})`;
}

/** Leaves of a Python-parsed tree, in order. */
export function leavesOf(part: PyPart): PyPart[] {
  return part.parts === undefined ? [part] : part.parts.flatMap(leavesOf);
}

/** A DKIM key pair and its DNS TXT record. */
export interface TestKey {
  privateKey: KeyObject;
  pem: string;
  record: string;
}

export function rsaKey(bits = 2048): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const p = publicKey.export({ type: "spki", format: "der" }).toString("base64");
  return {
    privateKey,
    pem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    record: `v=DKIM1; k=rsa; p=${p}`,
  };
}

export function ed25519Key(): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  // RFC 8463 §4.2: p= is the bare 32-octet public key
  const raw = publicKey.export({ type: "spki", format: "der" }).subarray(-32).toString("base64");
  return {
    privateKey,
    pem: privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    record: `v=DKIM1; k=ed25519; p=${raw}`,
  };
}

const DKIMPY = `
import sys, json, re, dkim
records = json.loads(sys.argv[1])
msg = sys.stdin.buffer.read()
def dns(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    return records.get(n.rstrip("."), "").encode()
head = msg.split(b"\\r\\n\\r\\n", 1)[0]
count = len(re.findall(rb"(?im)^dkim-signature:", head))
d = dkim.DKIM(msg)
def check(i):
    try:
        return bool(d.verify(idx=i, dnsfunc=dns))
    except dkim.DKIMException:
        return False
print(json.dumps([check(i) for i in range(count)]))
`;

/** dkimpy's verdict for each DKIM-Signature, top first. `records`: "<selector>._domainkey.<domain>" -> TXT. */
export function dkimpyVerify(raw: Uint8Array, records: Record<string, string>): boolean[] {
  const result = spawnSync(PYTHON, ["-c", DKIMPY, JSON.stringify(records)], {
    input: raw,
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`dkimpy: ${result.stderr}`);
  return JSON.parse(result.stdout) as boolean[];
}

/** mailauth's result for each signature ("pass", "fail", "neutral", ...), with a stub resolver. */
export async function mailauthVerify(raw: Uint8Array, records: Record<string, string>): Promise<string[]> {
  const resolver = async (name: string, type: string): Promise<string[][]> => {
    const record = type === "TXT" ? records[name.replace(/\.$/, "")] : undefined;
    if (record === undefined) throw Object.assign(new Error(`no ${type} for ${name}`), { code: "ENOTFOUND" });
    return [[record]];
  };
  const result = await dkimVerify(Buffer.from(raw), { resolver: resolver as never });
  return result.results.map((r) => r.status.result);
}

/** The SHA-256 of some bytes (a string is UTF-8), in hex: what PyPart.sha256 holds for a part's decoded body. */
export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** `data` as a stream that allocates a fresh buffer per chunk of `size` octets, as a file stream does. */
export function freshChunks(data: Uint8Array, size: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield Buffer.from(data.subarray(i, i + size));
    })(),
  );
}

/** Collects an async iterable of chunks. */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Every line of a message is at most 998 octets (RFC 5322 §2.1.1) and ends in CRLF. */
export function lineProblems(raw: Buffer): string[] {
  const problems: string[] = [];
  const text = raw.toString("latin1");
  if (/\r(?!\n)|(?<!\r)\n/.test(text)) problems.push("a bare CR or LF");
  for (const line of text.split("\r\n"))
    if (line.length > 998) problems.push(`a line of ${line.length} octets`);
  return problems;
}
