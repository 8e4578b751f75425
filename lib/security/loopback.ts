// Loopback decisions made on addresses, never on text prefixes: "127.evil.example" is a name,
// not an address, and only its resolved addresses say where it points.
import { lookup } from "node:dns/promises";
import net from "node:net";

const unbracket = (host: string) => host.replace(/^\[(.*)\]$/, "$1");

/** An IP literal in 127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address). Names are not addresses. */
export function isLoopbackAddress(address: string): boolean {
  const a = unbracket(address).toLowerCase();
  if (net.isIPv4(a)) return a.split(".")[0] === "127";
  if (!net.isIPv6(a)) return false;
  if (a === "::1" || a === "0:0:0:0:0:0:0:1") return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped !== null && isLoopbackAddress(mapped[1]);
}

/** A Host-header name a browser only ever sends for this machine: "localhost" or a loopback address. */
export function isLoopbackHostName(hostname: string): boolean {
  const h = unbracket(hostname).toLowerCase().replace(/\.$/, "");
  return h === "localhost" || isLoopbackAddress(h);
}

export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/** True when every address `host` resolves to is loopback; a name that does not resolve is not loopback. */
export async function resolvesToLoopback(host: string, resolve: Resolver = systemResolver): Promise<boolean> {
  const bare = unbracket(host);
  if (net.isIP(bare)) return isLoopbackAddress(bare);
  try {
    const addresses = await resolve(bare);
    return addresses.length > 0 && addresses.every(isLoopbackAddress);
  } catch {
    return false;
  }
}
