import type { BurstPacing } from "../../core/frisbee/rate.js";
import type { ProgressRequest } from "../../core/frisbee/server.js";

/**
 * The Frisbee part of a typed scenario: what the installer puts into a World. A scenario file is
 * read into it (scenarios/frisbee/schema.ts), and the planner builds it directly.
 */

/**
 * When the clients of a group start: together, in K clusters one every S, spread over S, or at
 * given offsets (client i at offsetsUs[i], 0 past the list's end: measured starts of real clients,
 * which `bench fidelity` replays; it has no text form).
 */
export type StartPattern =
  | { kind: "simultaneous" }
  | { kind: "clustered"; clusters: number; everyUs: number }
  | { kind: "uniform"; overUs: number }
  | { kind: "at"; offsetsUs: readonly number[] };

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
