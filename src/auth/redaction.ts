/**
 * What must never come back out of a reply: the secrets an AUTH exchange sends. A hostile or careless
 * server may echo them ("535 bad credentials: AHVzZXIAc2VjcmV0"); the connection redacts them from every
 * later reply (see Connection.addSecrets).
 */
import type { Command } from "../protocol/commands.js";

/** The password as a server might echo it: raw, and in base64 (as LOGIN sends it). */
export function passwordForms(password: string): string[] {
  if (password.length === 0) return [];
  return [password, Buffer.from(password, "utf8").toString("base64")];
}

/**
 * The secret part of an AUTH command: the initial response of "AUTH MECH <response>", or a whole SASL
 * response line (base64). The formatters mark these by redacting their log form; "*" is no secret.
 */
export function secretsIn(command: Command): string[] {
  if (command.log === command.wire.slice(0, -2)) return [];
  const line = command.wire.slice(0, -2);
  const secret = line.slice(line.lastIndexOf(" ") + 1);
  return secret === "" || secret === "=" || secret === "*" ? [] : [secret];
}
