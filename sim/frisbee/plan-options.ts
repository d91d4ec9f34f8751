import type { StartPattern } from "./decl.js";

/** Where a plan's loss is: on the server's link (every client loses the same packet) or each receiver's. */
export type LossAt = "server" | "receivers";
export type PlanModel = "packet" | "chunk" | "auto";

/**
 * What a Frisbee capacity plan asks, as numbers: the planner (scenarios/frisbee/plan.ts) turns a row
 * of it into a packet-model scenario, and the chunk model (sim/frisbee/chunk-model/) runs it itself.
 */
export interface FrisbeePlanOptions {
  clients: number[];
  losses: number[];
  lossAt: LossAt;
  imageMiB: number;
  dataMiB: number;
  clientMbps: number;
  /** Bandwidth target of the server, or burst/gap pacing. */
  pacing: { serverMbps: number } | { burst: number; gapUs: number };
  diskMiBs: number;
  /** Decompression speed in MiB/s of output. */
  inflateMiBs: number;
  start: StartPattern;
  /** Each client reports progress at this interval. */
  heartbeatUs: number;
  seed: number;
  model: PlanModel;
  /**
   * Chunk model only: requests pass the server link's queue, which drops most of a herd of
   * thousands of clients' idle requests, as the packet model's link does. Closer to the packet
   * model beyond a few hundred clients, and slower (see the README).
   */
  serverQueue?: boolean;
}
