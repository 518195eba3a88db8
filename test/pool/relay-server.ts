// A programmable SMTP server on loopback for the pool's fault tests: every connection is a session that
// answers by rules (hooks), with state across sessions, and server-side timestamps. PIPELINING: commands
// are read in order and answered in order, however they arrive.
import net from "node:net";
import { performance } from "node:perf_hooks";
import { after } from "node:test";

/** A reply line (CRLF added), or a way to end the session. */
export type Answer = string | { close: true; reply?: string } | { destroy: true } | { hold: true };

export interface Session {
  readonly id: number;
  /** Messages this session accepted. */
  accepted: number;
  /** Transactions begun (MAIL commands) in this session. */
  mails: number;
  readonly socket: net.Socket;
}

export interface Delivered {
  session: number;
  /** performance.now() when the end of data arrived (the server's clock). */
  at: number;
  messageId: string | undefined;
  from: string;
  recipients: string[];
  data: string;
}

export interface Hooks {
  /** EHLO keywords. Default PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES. */
  extensions?: string[];
  greeting?: (s: Session) => Answer;
  mail?: (s: Session, from: string) => Answer;
  rcpt?: (s: Session, to: string) => Answer;
  data?: (s: Session) => Answer;
  /** The answer to the end of data. Default 250. */
  end?: (s: Session, message: Delivered) => Answer;
  /** Close a session idle this long (after sending `idleReply`, if given). */
  idleMs?: number;
  idleReply?: string;
}

export interface RelayServer {
  port: number;
  /** Sessions accepted so far. */
  readonly sessions: Session[];
  /** Messages accepted (250 to the end of data), in arrival order. */
  readonly delivered: Delivered[];
  /** Every message whose end of data arrived, whatever the answer. */
  readonly received: Delivered[];
  /** Every MAIL FROM, with its arrival time and session. */
  readonly mails: { session: number; at: number }[];
  /** Sessions that said QUIT. */
  quits: number;
  /** Chunks of client bytes in which an end of data and the next MAIL FROM arrived together (pipelined). */
  pipelinedEnvelopes: number;
  close(): Promise<void>;
}

const OK = "250 2.0.0 OK";

/** Starts a server; closed when the test file ends (unless `closeAfterTests` is false: a child process). */
export async function startRelayServer(hooks: Hooks = {}, closeAfterTests = true): Promise<RelayServer> {
  const sessions: Session[] = [];
  const delivered: Delivered[] = [];
  const received: Delivered[] = [];
  const mails: { session: number; at: number }[] = [];
  const state = { quits: 0, pipelinedEnvelopes: 0 };
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => undefined);
    const session: Session = { id: sessions.length, accepted: 0, mails: 0, socket };
    sessions.push(session);
    serve(session, hooks, { delivered, received, mails, state });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const relay: RelayServer = {
    port: (server.address() as net.AddressInfo).port,
    sessions,
    delivered,
    received,
    mails,
    get quits() {
      return state.quits;
    },
    get pipelinedEnvelopes() {
      return state.pipelinedEnvelopes;
    },
    close: async () => {
      for (const s of sessions) s.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } as RelayServer;
  if (closeAfterTests) after(() => relay.close());
  return relay;
}

interface Shared {
  delivered: Delivered[];
  received: Delivered[];
  mails: { session: number; at: number }[];
  state: { quits: number; pipelinedEnvelopes: number };
}

function serve(session: Session, hooks: Hooks, shared: Shared): void {
  const { socket } = session;
  let buffer = "";
  let inData = false;
  let bdat: { left: number; last: boolean; data: string } | undefined;
  let pendingChunks = "";
  /** A whole message arrived: record it and answer; false when the session ended. */
  const complete = (data: string): boolean => {
    const id = /^Message-ID:[ \t]*(\S+)/im.exec(data)?.[1];
    const message: Delivered = {
      session: session.id,
      at: performance.now(),
      messageId: id,
      from,
      recipients,
      data,
    };
    shared.received.push(message);
    const reply = hooks.end?.(session, message) ?? OK;
    if (typeof reply === "string" && reply.startsWith("250")) {
      session.accepted++;
      shared.delivered.push(message);
    }
    return answer(reply);
  };
  let from = "";
  let recipients: string[] = [];
  let ended = false;
  let idle: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    if (hooks.idleMs === undefined) return;
    clearTimeout(idle);
    idle = setTimeout(() => {
      if (hooks.idleReply) socket.write(`${hooks.idleReply}\r\n`);
      socket.end();
    }, hooks.idleMs);
  };
  /** Writes the answer; false when the session ended. */
  const answer = (a: Answer): boolean => {
    if (typeof a === "string") {
      socket.write(`${a}\r\n`);
      return true;
    }
    ended = true;
    clearTimeout(idle);
    if ("hold" in a) return false; // stall: read nothing more, answer nothing
    if ("destroy" in a) socket.destroy();
    else {
      if (a.reply) socket.write(`${a.reply}\r\n`);
      socket.end();
    }
    return false;
  };
  socket.on("close", () => clearTimeout(idle));
  if (!answer(hooks.greeting?.(session) ?? "220 relay.test ESMTP")) return;
  armIdle();
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    if (ended) return;
    armIdle();
    if (/\r\n\.\r\nMAIL FROM:/i.test(chunk)) shared.state.pipelinedEnvelopes++;
    buffer += chunk;
    for (;;) {
      if (ended) return;
      if (bdat !== undefined) {
        // BDAT (CHUNKING): exactly the announced octets, no dot-stuffing
        const take = Math.min(bdat.left, buffer.length);
        bdat.data += buffer.slice(0, take);
        buffer = buffer.slice(take);
        bdat.left -= take;
        if (bdat.left > 0) return;
        const { data, last } = bdat;
        bdat = undefined;
        if (last) {
          if (!complete(data)) return;
        } else {
          pendingChunks = data;
          if (!answer("250 2.0.0 chunk received")) return;
        }
        continue;
      }
      if (inData) {
        const end = buffer.indexOf("\r\n.\r\n");
        if (end < 0) return;
        const data = buffer.slice(0, end + 2);
        buffer = buffer.slice(end + 5);
        inData = false;
        if (!complete(data)) return;
        continue;
      }
      const eol = buffer.indexOf("\r\n");
      if (eol < 0) return;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO") {
        const ext = hooks.extensions ?? ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"];
        const lines = ["relay.test", ...ext];
        answer(lines.map((l, i) => `250${i === lines.length - 1 ? " " : "-"}${l}`).join("\r\n"));
      } else if (verb === "MAIL") {
        session.mails++;
        shared.mails.push({ session: session.id, at: performance.now() });
        from = /<(.*?)>/.exec(line)?.[1] ?? "";
        recipients = [];
        const a = hooks.mail?.(session, from) ?? OK;
        if (!answer(a)) return;
        if (typeof a === "string" && !a.startsWith("250")) from = "\0refused";
      } else if (verb === "RCPT") {
        const to = /<(.*?)>/.exec(line)?.[1] ?? "";
        const a = from === "\0refused" ? "503 5.5.1 no sender" : (hooks.rcpt?.(session, to) ?? OK);
        if (typeof a === "string" && a.startsWith("250")) recipients.push(to);
        if (!answer(a)) return;
      } else if (verb === "DATA") {
        const a =
          recipients.length === 0 ? "554 5.5.1 no valid recipients" : (hooks.data?.(session) ?? "354 go on");
        if (typeof a === "string" && a.startsWith("354")) inData = true;
        if (!answer(a)) return;
      } else if (verb === "BDAT") {
        const m = /^BDAT (\d+)( LAST)?$/i.exec(line);
        bdat = { left: Number(m?.[1] ?? 0), last: m?.[2] !== undefined, data: pendingChunks };
        pendingChunks = "";
        if (recipients.length === 0) {
          bdat = undefined;
          if (!answer("554 5.5.1 no valid recipients")) return;
        }
      } else if (verb === "RSET" || verb === "NOOP") {
        answer(OK);
      } else if (verb === "QUIT") {
        shared.state.quits++;
        answer({ close: true, reply: "221 2.0.0 bye" });
        return;
      } else {
        answer("500 5.5.2 what?");
      }
    }
  });
}

/** Ids of delivered messages that arrived more than once. */
export function duplicates(delivered: Delivered[]): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const m of delivered) {
    const id = m.messageId ?? "";
    if (seen.has(id)) twice.push(id);
    seen.add(id);
  }
  return twice;
}
