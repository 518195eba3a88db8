/**
 * The generic SASL exchange of RFC 4954 §4, without a socket: AUTH with an optional initial
 * response, then one base64 line per 334 challenge, until the server answers something else.
 */

import { SMTPError } from "../errors.js";
import { auth, type Command, CommandArgumentError, saslResponse } from "../protocol/commands.js";
import type { Reply } from "../types.js";
import { MechanismError, type SASLClient } from "./mechanism.js";

/** Options for `runSASL`. */
export interface RunSASLOptions {
  /** Most 334 challenges answered before the exchange is cancelled. Default 10 (as lettre). */
  maxRounds?: number;
}

/** What an exchange ended with, when the server ended it. */
export interface SASLOutcome {
  /** 235 on success, or the server's 4xx/5xx refusal (the caller maps them to true and false). */
  reply: Reply;
  /**
   * XOAUTH2/OAUTHBEARER: the error the server sent in a 334 before refusing, decoded as UTF-8
   * (usually JSON such as `{"status":"401","schemes":"bearer","scope":"..."}`). Undefined otherwise.
   */
  serverError?: string | undefined;
}

/**
 * RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF, and RFC 4954 §4 keeps AUTH
 * under that limit: an initial response that would exceed it MUST NOT be sent with AUTH, but in
 * answer to the server's first (empty) challenge instead (RFC 4954 §4, erratum 5224: RFC 2222 §5.1).
 */
const MAX_COMMAND_LINE = 512;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a reply's text as base64, or undefined when it is not exactly one line of base64. */
function decodeBase64Text(reply: Reply): Uint8Array | undefined {
  if (reply.lines.length > 1) return undefined;
  const text = (reply.lines[0] ?? "").trim();
  return BASE64.test(text) ? Buffer.from(text, "base64") : undefined;
}

const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");

/**
 * Runs one SASL exchange through `send`, which writes a command and resolves with its reply (and
 * owns timeouts and the transcript; every command given to it has a redacted `log`).
 *
 * - The initial response goes with AUTH, unless that would make the line longer than 512 octets:
 *   then AUTH goes alone and the initial response answers the first (empty) 334.
 * - `client.start()` failing with a `MechanismError("input")` (NUL in PLAIN, SASLprep failure, no
 *   channel binding for -PLUS...) rejects with `EINPUT` before anything is sent.
 * - A challenge that is not base64, a mechanism that fails on a challenge (forged SCRAM signature,
 *   `e=`, a nonce that does not extend ours) or more than `maxRounds` challenges: the exchange is
 *   cancelled with "*" (RFC 4954 §4), the server's answer awaited, and the call rejects with `EAUTH`
 *   (with that answer as `reply`). If the server does not end the exchange after "*" (334 or 2xx),
 *   it rejects with `EPROTOCOL`: the session state is unknown and the connection should be closed.
 * - 235: `client.finish()` gets the 235 text decoded when it is base64 (RFC 4954 §4 additional data,
 *   where a SCRAM server may put its final message). A mechanism that must verify the server and has
 *   not (`serverVerified === false`) rejects with `EAUTH`: a server that skips the SCRAM server-final
 *   message must not count as success.
 * - Any other 2xx or 3xx (not 235/334) is `EPROTOCOL`.
 * - Errors from `send` itself propagate unchanged.
 *
 * Error messages name the mechanism and the reason, never a credential or a response line.
 */
export async function runSASL(
  client: SASLClient,
  send: (command: Command) => Promise<Reply>,
  options: RunSASLOptions = {},
): Promise<SASLOutcome> {
  const maxRounds = options.maxRounds ?? 10;
  const name = client.name;

  let first: Command;
  // An initial response too long for the AUTH line, sent on the first 334 instead.
  let deferred: Uint8Array | undefined;
  try {
    const initial = client.start();
    first = initial === undefined ? auth(name) : auth(name, toBase64(initial));
    if (first.wire.length > MAX_COMMAND_LINE) {
      deferred = initial;
      first = auth(name);
    }
  } catch (error) {
    throw localFailure(name, error);
  }

  let reply = await send(first);
  let rounds = 0;
  while (reply.code === 334) {
    rounds++;
    if (rounds > maxRounds) {
      return cancel(send, name, `server sent more than ${maxRounds} challenges`, undefined);
    }
    const challenge = decodeBase64Text(reply);
    if (challenge === undefined) {
      return cancel(send, name, "server sent a challenge that is not base64", undefined);
    }
    let response: Uint8Array;
    if (deferred !== undefined) {
      // AUTH came without the initial response the mechanism needs: the server's first challenge is
      // empty and carries nothing for the mechanism (RFC 4954 §4, RFC 2222 §5.1).
      response = deferred;
      deferred = undefined;
    } else {
      try {
        response = client.next(challenge);
      } catch (error) {
        return cancel(send, name, reasonOf(error), error);
      }
    }
    reply = await send(saslResponse(toBase64(response)));
  }

  if (reply.code === 235) {
    try {
      client.finish?.(decodeBase64Text(reply));
    } catch (error) {
      throw new SMTPError("EAUTH", `AUTH ${name}: ${reasonOf(error)}`, {
        stage: "AUTH",
        reply,
        cause: error,
        temporary: false,
      });
    }
    if (client.serverVerified === false) {
      throw new SMTPError(
        "EAUTH",
        `AUTH ${name}: the server accepted without proving it knows the password (no server signature)`,
        { stage: "AUTH", reply, temporary: false },
      );
    }
    return { reply, serverError: client.serverError };
  }
  if (reply.code >= 400 && reply.code < 600) return { reply, serverError: client.serverError };
  throw new SMTPError("EPROTOCOL", `AUTH ${name}: unexpected reply code ${reply.code}`, {
    stage: "AUTH",
    reply,
    temporary: false,
  });
}

/** Sends "*", awaits the server's answer (501 expected) and throws the error for `reason`. */
async function cancel(
  send: (command: Command) => Promise<Reply>,
  name: string,
  reason: string,
  cause: unknown,
): Promise<never> {
  const reply = await send(saslResponse("*"));
  if (reply.code === 334 || (reply.code >= 200 && reply.code < 300)) {
    throw new SMTPError("EPROTOCOL", `AUTH ${name}: ${reason}; the server did not end the exchange on "*"`, {
      stage: "AUTH",
      reply,
      cause,
      temporary: false,
    });
  }
  const code = cause instanceof MechanismError && cause.kind === "input" ? "EINPUT" : "EAUTH";
  throw new SMTPError(code, `AUTH ${name} cancelled: ${reason}`, {
    stage: "AUTH",
    reply,
    cause,
    temporary: false,
  });
}

/** The error for a failure before anything was sent. */
function localFailure(name: string, error: unknown): SMTPError {
  const input =
    (error instanceof MechanismError && error.kind === "input") || error instanceof CommandArgumentError;
  return new SMTPError(input ? "EINPUT" : "EAUTH", `AUTH ${name}: ${reasonOf(error)}`, {
    stage: "AUTH",
    cause: error,
    temporary: false,
  });
}

function reasonOf(error: unknown): string {
  if (error instanceof MechanismError || error instanceof CommandArgumentError) return error.message;
  return `the mechanism failed (${error instanceof Error ? error.name : "non-error thrown"})`;
}
