// The check that no secret reached an output: the secret as is, base64 (as SASL carries it) and
// URL-encoded (as a form body carries it).
import assert from "node:assert/strict";

/** Fails when any of `secrets`, in any form an output could hold it, appears in any of `texts`. */
export function assertNoSecrets(texts: string[], secrets: string[]): void {
  const all = texts.join("\n");
  for (const secret of secrets) {
    for (const form of [secret, Buffer.from(secret).toString("base64"), encodeURIComponent(secret)])
      assert.ok(!all.includes(form), `a secret (${secret.slice(0, 6)}...) appears in the output`);
  }
}
