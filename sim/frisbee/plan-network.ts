import { IP_UDP_HEADER_BYTES } from "../../core/frisbee/constants.js";
import type { FrisbeePlanOptions } from "./plan-options.js";

/**
 * The network of a Frisbee plan, one set for the packet scenario a row runs and for the chunk
 * model: a star with the server on a fast link and the clients on theirs.
 */
export const PLAN_NETWORK = {
  /** IP and UDP headers on every datagram. */
  headerBytes: IP_UDP_HEADER_BYTES,
  /** One way, per link. */
  latencyUs: 50,
  /** The server's link queue (and any link's but the clients'). */
  serverQueueBytes: 1 << 20,
  clientQueueBytes: 512 << 10,
  /** The server's link runs at twice its bandwidth target, and at least this fast. */
  serverLinkMbpsMin: 1000,
} as const;

/** The server link's speed in Mbit/s. */
export function planServerLinkMbps(o: FrisbeePlanOptions): number {
  return Math.max(PLAN_NETWORK.serverLinkMbpsMin, "serverMbps" in o.pacing ? o.pacing.serverMbps * 2 : PLAN_NETWORK.serverLinkMbpsMin);
}
