import type { Micros } from "../engine/time.js";

/** One partition of a node: the image it is loaded from, and the delta saved over it, if any. */
export interface PartitionPlan {
  readonly partition: number;
  /** Index into SwapPlan.images. */
  readonly image: number;
  /** The adapter's name for the node's saved delta over this image (null: the base alone). */
  readonly delta: string | null;
}

export interface NodePlan {
  readonly name: string;
  readonly partitions: readonly PartitionPlan[];
  /** A node that may fail without failing the swap-in (Emulab's "non-fatal" nodes). */
  readonly nonFatal: boolean;
}

export interface ImagePlan {
  readonly name: string;
  /** Bytes the image writes to disk; the load budget grows with it. */
  readonly uncompressedBytes: number;
}

/**
 * Time limits and retry counts. Every queue and retry of the machine is bounded by one of these, so
 * a swap always ends: each node either moves on or runs out of attempts and replacements.
 */
export interface SwapLimits {
  /** Loads of one node on one physical node: 2 is Emulab's one retry. */
  readonly loadAttemptsMax: number;
  readonly bootAttemptsMax: number;
  /** Failed setups of one node before it is replaced (or reported). */
  readonly setupAttemptsMax: number;
  /** Replacements of failed physical nodes by spares, for the whole swap. */
  readonly replacementsMax: number;
  /** Emulab's load budget: fixed part plus a part per 100 MiB of image written. */
  readonly loadBaseUs: Micros;
  readonly loadPer100MiBUs: Micros;
  /** With heartbeats on, a loading node silent this long is wedged (Emulab: 5 minutes). */
  readonly wedgedUs: Micros;
  readonly bootTimeoutUs: Micros;
  readonly setupTimeoutUs: Micros;
  /** Setups in flight at once (the setup pool's window). */
  readonly setupWindow: number;
  /** First retry delay of a failed setup; it doubles per failure. */
  readonly setupRetryUs: Micros;
  readonly saveTimeoutUs: Micros;
  readonly releaseTimeoutUs: Micros;
  readonly imageStartTimeoutUs: Micros;
  readonly syncStartTimeoutUs: Micros;
  /** An image server with no load left stops after lingering this long (Emulab: an hour). */
  readonly imageLingerUs: Micros;
}

const SEC = 1_000_000;

export const DEFAULT_LIMITS: SwapLimits = {
  loadAttemptsMax: 2,
  bootAttemptsMax: 2,
  setupAttemptsMax: 3,
  replacementsMax: 16,
  loadBaseUs: 600 * SEC,
  loadPer100MiBUs: 65 * SEC,
  wedgedUs: 300 * SEC,
  bootTimeoutUs: 420 * SEC,
  setupTimeoutUs: 600 * SEC,
  setupWindow: 40,
  setupRetryUs: 10 * SEC,
  saveTimeoutUs: 1_800 * SEC,
  releaseTimeoutUs: 60 * SEC,
  imageStartTimeoutUs: 60 * SEC,
  syncStartTimeoutUs: 60 * SEC,
  imageLingerUs: 3_600 * SEC,
};

/** Most nodes of one experiment (and spares beside them) one machine drives. */
export const SWAP_NODES_MAX = 1 << 20;
export const IMAGES_MAX = 1_024;
export const PARTITIONS_MAX = 16;
const ATTEMPTS_MAX = 100;
const LIMIT_US_MAX = 30 * 86_400 * SEC;

export interface SwapPlan {
  readonly experiment: string;
  readonly nodes: readonly NodePlan[];
  readonly images: readonly ImagePlan[];
  /** Index of the node that runs the sync server, or null for none. */
  readonly syncServer: number | null;
  readonly saveDiskState: boolean;
  /** Physical nodes beyond one per node, to replace failed ones. */
  readonly spares: number;
  /** Heartbeat interval nodes are told (0: off; then no node is judged wedged by silence). */
  readonly heartbeatUs: Micros;
  readonly limits: SwapLimits;
}

/** The first thing wrong with a plan, or null. Bugs in the caller, not user input: files are checked before. */
export function checkPlan(p: SwapPlan): string | null {
  if (p.nodes.length === 0 || p.nodes.length + p.spares > SWAP_NODES_MAX) return `nodes: expected 1 to ${SWAP_NODES_MAX} with spares, got ${p.nodes.length} + ${p.spares}`;
  if (!Number.isInteger(p.spares) || p.spares < 0) return `spares: expected a whole number, got ${p.spares}`;
  if (p.images.length > IMAGES_MAX) return `images: at most ${IMAGES_MAX}`;
  if (p.syncServer !== null && (p.syncServer < 0 || p.syncServer >= p.nodes.length)) return `syncServer: no node ${p.syncServer}`;
  for (const [i, n] of p.nodes.entries()) {
    if (n.partitions.length > PARTITIONS_MAX) return `nodes[${i}].partitions: at most ${PARTITIONS_MAX}`;
    for (const part of n.partitions) if (!(part.image >= 0 && part.image < p.images.length)) return `nodes[${i}]: no image ${part.image}`;
  }
  const l = p.limits;
  for (const key of ["loadAttemptsMax", "bootAttemptsMax", "setupAttemptsMax"] as const) {
    if (!Number.isInteger(l[key]) || l[key] < 1 || l[key] > ATTEMPTS_MAX) return `limits.${key}: expected 1 to ${ATTEMPTS_MAX}, got ${l[key]}`;
  }
  if (!Number.isInteger(l.replacementsMax) || l.replacementsMax < 0) return `limits.replacementsMax: expected a whole number, got ${l.replacementsMax}`;
  if (!Number.isInteger(l.setupWindow) || l.setupWindow < 1) return `limits.setupWindow: expected at least 1, got ${l.setupWindow}`;
  for (const key of ["loadBaseUs", "loadPer100MiBUs", "wedgedUs", "bootTimeoutUs", "setupTimeoutUs", "setupRetryUs", "saveTimeoutUs", "releaseTimeoutUs", "imageStartTimeoutUs", "syncStartTimeoutUs", "imageLingerUs"] as const) {
    if (!Number.isSafeInteger(l[key]) || l[key] < 0 || l[key] > LIMIT_US_MAX) return `limits.${key}: expected whole microseconds up to 30 days, got ${l[key]}`;
  }
  if (!Number.isSafeInteger(p.heartbeatUs) || p.heartbeatUs < 0) return `heartbeatUs: expected whole microseconds, got ${p.heartbeatUs}`;
  return null;
}

/** Emulab's budget for loading `bytes`: 600 s plus 65 s per 100 MiB (scaled by the limits). */
export function loadBudgetUs(l: SwapLimits, bytes: number): Micros {
  return l.loadBaseUs + Math.ceil((bytes / (100 * 2 ** 20)) * l.loadPer100MiBUs);
}
