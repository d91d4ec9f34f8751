import type { BurstPacing } from "../../core/frisbee/rate.js";
import type { ProgressRequest } from "../../core/frisbee/server.js";

/**
 * The Frisbee part of a typed scenario: what the installer puts into a World. A scenario file is
 * read into it (scenarios/frisbee/schema.ts), and the planner builds it directly.
 */

/** When the clients of a group start: together, in K clusters one every S, or spread over S. */
export type StartPattern =
  | { kind: "simultaneous" }
  | { kind: "clustered"; clusters: number; everyUs: number }
  | { kind: "uniform"; overUs: number };

export interface FrisbeeServerDecl {
  host: number;
  group: number;
  port: number;
  compressedBytes: number;
  uncompressedBytes: number;
  pacing: BurstPacing;
  dynamic: boolean;
  idleExitUs: number;
  progressRequest: ProgressRequest | null;
}

export interface FrisbeeClientsDecl {
  hosts: number[];
  server: number;
  startUs: number;
  start: StartPattern;
  heartbeatUs: number;
  join2: boolean;
  leaveAtUs: number | null;
}

export interface FrisbeeDecl {
  servers: FrisbeeServerDecl[];
  clients: FrisbeeClientsDecl[];
}
