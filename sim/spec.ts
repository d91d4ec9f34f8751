import type { LinkSpec } from "./link.js";
import type { LossSpec } from "./loss.js";

/**
 * A world as the builder (sim/build.ts) takes it: hosts, links, disks, CPUs, background traffic and
 * faults, every quantity an integer in its unit and every host a number. A scenario file is read
 * into it (scenarios/schema.ts); a planner may build it directly.
 */

export interface HostDecl {
  name: string;
  clockDriftPpm: number;
  clockOffsetUs: number;
}

export type Direction = "up" | "down" | "both";

export interface LinkRule {
  hosts: number[];
  direction: Direction;
  spec: Partial<LinkSpec>;
  loss: LossSpec | null | undefined;
}

export interface DiskRule {
  hosts: number[];
  sizeBytes: number;
  writeBytesPerSec: number;
  readBytesPerSec: number;
  latencyUs: number;
  writeErrorRate: number;
  badRanges: { offset: number; length: number }[];
  keepData: boolean;
}

export interface CpuRule {
  hosts: number[];
  cores: number;
  unitsPerSec: Record<string, number>;
}

export interface TrafficWorkload {
  type: "traffic";
  index: number;
  from: number[];
  /** Unicast targets, or empty when `group` is set. */
  to: number[];
  group: number | null;
  members: number[];
  port: number;
  rateBps: number;
  packetBytes: number;
  pattern: "constant" | "poisson";
  startUs: number;
  stopUs: number;
}

export type Fault =
  | { type: "partition"; atUs: number; healUs: number | null; a: number[]; b: number[]; oneWay: boolean }
  | { type: "crash"; atUs: number; hosts: number[]; restartUs: number | null }
  | { type: "pause"; atUs: number; hosts: number[]; forUs: number }
  | { type: "loss"; atUs: number; hosts: number[]; direction: Direction; loss: LossSpec | null };

export interface WorldSpec {
  hosts: HostDecl[];
  network: { headerBytes: number; defaults: LinkSpec; links: LinkRule[] };
  disks: DiskRule[];
  cpus: CpuRule[];
  workloads: TrafficWorkload[];
  faults: Fault[];
}
