import { US_PER_SEC } from "../engine/time.js";
import { BLOCK_BYTES, ETHERNET_FRAMING_BYTES, IP_UDP_HEADER_BYTES, MESSAGE_HEADER_BYTES, SERVER_DEFAULTS } from "./constants.js";

/** Bits one block packet occupies on an Ethernet wire: payload, IP/UDP headers and framing. */
export const BLOCK_WIRE_BITS = (MESSAGE_HEADER_BYTES + 8 + BLOCK_BYTES + IP_UDP_HEADER_BYTES + ETHERNET_FRAMING_BYTES) * 8;

/** The original's timer granularity: a computed gap is rounded up to whole milliseconds. */
const GAP_GRANULARITY_US = 1_000;

export interface BurstPacing {
  burstPackets: number;
  burstGapUs: number;
}

/**
 * Burst pacing for a bandwidth target, as the original computes it: keep the default gap and fit
 * as many packets in each burst as the bandwidth allows; below one packet per default gap, send
 * single packets with the gap stretched (to whole milliseconds). 4 Mbit/s gives 1 packet per 3 ms,
 * as the original frisbeed reports; 72 Mbit/s gives 16 packets per 2 ms.
 */
export function pacingForBandwidth(bandwidthBps: number): BurstPacing {
  if (!(bandwidthBps > 0 && Number.isFinite(bandwidthBps))) throw new Error(`bandwidth must be positive and finite, got ${bandwidthBps}`);
  const gapUs = SERVER_DEFAULTS.burstGapUs;
  const packets = Math.floor((bandwidthBps * gapUs) / US_PER_SEC / BLOCK_WIRE_BITS);
  if (packets >= 1) return { burstPackets: packets, burstGapUs: gapUs };
  const exactGapUs = (BLOCK_WIRE_BITS / bandwidthBps) * US_PER_SEC;
  return { burstPackets: 1, burstGapUs: Math.ceil(exactGapUs / GAP_GRANULARITY_US) * GAP_GRANULARITY_US };
}

/** Blocks per second that pacing allows. */
export function pacedBlocksPerSec(pacing: BurstPacing): number {
  return (pacing.burstPackets * US_PER_SEC) / pacing.burstGapUs;
}
