import type net from "node:net";
import tls from "node:tls";
import { SMTPError, type SMTPStage } from "../errors.js";

/**
 * Runs a TLS client handshake over an already connected socket (implicit TLS or after STARTTLS's 220).
 * Node verifies the chain and the host name (servername, else the host the socket was connected to).
 * TLS 1.2 is the floor unless the caller lowers minVersion (API.md §4 rule 12).
 * Any failure — handshake, certificate, stall past `timeoutMs`, socket lost — is ETLS and destroys the socket.
 */
export function handshake(
  socket: net.Socket,
  options: tls.ConnectionOptions,
  timeoutMs: number,
  stage: SMTPStage,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const tlsSocket = tls.connect({ minVersion: "TLSv1.2", ...options, socket });
    const finish = (error: SMTPError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      tlsSocket.off("secureConnect", onSecure);
      tlsSocket.off("error", onError);
      tlsSocket.off("close", onClose);
      if (error) {
        tlsSocket.on("error", () => {}); // a destroyed socket may still report; nobody is listening any more
        tlsSocket.destroy();
        socket.destroy();
        reject(error);
      } else {
        resolve(tlsSocket);
      }
    };
    const onSecure = (): void => finish(undefined);
    const onError = (cause: Error): void =>
      finish(
        new SMTPError("ETLS", `TLS handshake failed: ${cause.message}`, { stage, cause, temporary: false }),
      );
    const onClose = (): void =>
      finish(new SMTPError("ETLS", "connection closed during the TLS handshake", { stage, temporary: true }));
    // Infinity means no deadline; anything longer than setTimeout's limit is clamped to it (~24.8 days).
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(
          () =>
            finish(
              new SMTPError("ETLS", `TLS handshake not done within ${timeoutMs} ms`, {
                stage,
                temporary: true,
              }),
            ),
          Math.min(2_147_483_647, Math.max(0, timeoutMs)),
        )
      : undefined;
    tlsSocket.once("secureConnect", onSecure);
    tlsSocket.on("error", onError);
    tlsSocket.once("close", onClose);
  });
}
