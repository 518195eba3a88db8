// The TCP step of connect(): Node's happy eyeballs over every address of the host, bounded by a timeout,
// with an error that names each address tried and what happened to it.
import net from "node:net";
import { abortError, SMTPError } from "../errors.js";

/**
 * Opens a TCP connection with Node's happy eyeballs (`autoSelectFamily`: IPv6 and IPv4 addresses tried in
 * turn), bounded by `timeoutMs`. Rejects with ECONNECTION (stage CONNECT) naming every address tried and why
 * each failed, or EABORT. The socket is destroyed on failure.
 */
export function openSocket(
  host: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal, "CONNECT"));
      return;
    }
    const tried = new Map<string, string>(); // "address:port" -> what happened
    const socket = net.connect({ host, port, autoSelectFamily: true });
    const onAttempt = (ip: string, p: number): void => void tried.set(endpoint(ip, p), "no answer");
    const onAttemptFailed = (ip: string, p: number, _family: number, error: NodeJS.ErrnoException): void =>
      void tried.set(endpoint(ip, p), error.code ?? error.message);
    const settle = (error: SMTPError | undefined): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.off("connectionAttempt", onAttempt);
      socket.off("connectionAttemptFailed", onAttemptFailed);
      socket.off("connect", onConnect);
      socket.off("error", onError);
      if (error === undefined) {
        resolve(socket);
        return;
      }
      socket.on("error", () => undefined); // a destroyed socket may still report; nobody listens any more
      socket.destroy();
      reject(error);
    };
    const onConnect = (): void => settle(undefined);
    const onError = (error: Error): void => settle(connectFailure(host, port, error, tried));
    const onAbort = (): void => settle(abortError(signal, "CONNECT"));
    const timer = setTimeout(() => {
      const list = tried.size > 0 ? ` (tried ${describeTried(tried)})` : "";
      settle(
        new SMTPError(
          "ECONNECTION",
          `no connection to ${endpoint(host, port)} within ${timeoutMs} ms${list}: the host may be down or a ` +
            "firewall may drop the packets; check the host and port, or raise connectTimeout",
          { stage: "CONNECT", temporary: true },
        ),
      );
    }, timeoutMs);
    socket.on("connectionAttempt", onAttempt);
    socket.on("connectionAttemptFailed", onAttemptFailed);
    socket.once("connect", onConnect);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The ECONNECTION for a failed TCP connect: every address tried and its error. */
function connectFailure(host: string, port: number, error: Error, tried: Map<string, string>): SMTPError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_FAIL") {
    return new SMTPError("ECONNECTION", `cannot resolve host "${host}" (${code}): check the host name`, {
      stage: "CONNECT",
      cause: error,
      temporary: code === "EAI_AGAIN",
    });
  }
  // With several addresses Node reports an AggregateError whose `errors` carry address and port each.
  const parts =
    error instanceof AggregateError
      ? (error.errors as NodeJS.ErrnoException[])
      : [error as NodeJS.ErrnoException];
  for (const part of parts) {
    const address = (part as { address?: string }).address;
    if (address)
      tried.set(endpoint(address, (part as { port?: number }).port ?? port), part.code ?? part.message);
  }
  const list = tried.size > 0 ? describeTried(tried) : `${endpoint(host, port)} ${code ?? error.message}`;
  return new SMTPError(
    "ECONNECTION",
    `cannot connect to ${host} port ${port}: ${list}: check the host and port, and that the server is running and reachable`,
    { stage: "CONNECT", cause: error, temporary: true },
  );
}

function endpoint(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

function describeTried(tried: Map<string, string>): string {
  return [...tried].map(([where, what]) => `${where} ${what}`).join(", ");
}
