import net from "node:net";
import os from "node:os";

// RFC 1035 labels as RFC 5321 §4.1.2 "Domain" uses them (letters, digits, hyphens; no leading/trailing hyphen).
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True for a domain name or an RFC 5321 §4.1.3 address literal ("[192.0.2.1]", "[IPv6:::1]"). */
export function isValidClientName(name: string): boolean {
  if (name.startsWith("[") && name.endsWith("]")) {
    const inner = name.slice(1, -1);
    if (inner.toLowerCase().startsWith("ipv6:")) return net.isIPv6(inner.slice(5));
    return net.isIPv4(inner);
  }
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => LABEL.test(label));
}

/** The address literal for a socket's local address: "[127.0.0.1]" or "[IPv6:::1]". */
export function addressLiteral(address: string): string {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4mapped) return `[${v4mapped[1]}]`;
  return net.isIPv6(address) ? `[IPv6:${address}]` : `[${address}]`;
}

/**
 * The default EHLO name: this host's name when it is a fully qualified domain (has a dot and is valid),
 * else the socket's local address as a literal (RFC 5321 §4.1.4 asks for an FQDN or, failing that, a literal).
 */
export function defaultClientName(localAddress: string | undefined): string {
  const host = os.hostname();
  if (host.includes(".") && isValidClientName(host)) return host;
  if (localAddress && net.isIP(localAddress.replace(/^::ffff:/i, ""))) return addressLiteral(localAddress);
  return "[127.0.0.1]";
}
