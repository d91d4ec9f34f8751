import type { Address } from "../../core/engine/index.js";

/** A dotted IPv4 address as the machines' 32-bit Address; null if it is not one. */
export function ipv4ToAddress(ip: string): Address | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (m === null) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return (((parts[0] as number) << 24) >>> 0) + ((parts[1] as number) << 16) + ((parts[2] as number) << 8) + (parts[3] as number);
}

export function addressToIpv4(a: Address): string {
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");
}
