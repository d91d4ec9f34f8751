import type { Micros } from "../engine/time.js";
import { DEFAULT_LIMITS, type ImagePlan, type SwapLimits, type SwapPlan } from "./plan.js";

/**
 * An experiment as its file describes it, normalised: counts expanded into node names, quantities
 * in integers (bytes, microseconds). This is what the store keeps and both worlds swap in.
 */
export interface ExperimentSpec {
  readonly name: string;
  readonly project: string;
  readonly nodes: readonly NodeSpec[];
  readonly images: readonly ImageSpec[];
  /** The node running the sync server (tb-set-sync-server), or null for none. */
  readonly syncServer: string | null;
  readonly saveDiskState: boolean;
  /** A command that sets a node up, `{node}` replaced by its name; null: nothing to set up. */
  readonly setup: string | null;
  /** Physical nodes held in reserve to replace failed ones. */
  readonly spares: number;
  readonly limits: LimitOverrides;
  readonly sim: SimSpec | null;
}

export interface NodeSpec {
  readonly name: string;
  readonly partitions: readonly { readonly partition: number; readonly image: string }[];
  readonly nonFatal: boolean;
}

export interface ImageSpec {
  readonly name: string;
  /** The image file (.ndz) a real swap-in serves; null for an image only the simulator knows. */
  readonly file: string | null;
  /** Sizes for the simulator; null when they are read from the file. */
  readonly compressedBytes: number | null;
  readonly uncompressedBytes: number | null;
}

export interface LimitOverrides {
  readonly loadUs?: Micros;
  readonly bootUs?: Micros;
  readonly setupUs?: Micros;
  readonly wedgedUs?: Micros;
  readonly saveUs?: Micros;
  readonly setupWindow?: number;
  readonly setupAttempts?: number;
  readonly setupRetryUs?: Micros;
  readonly imageLingerUs?: Micros;
}

/** The simulated world an experiment runs in with --sim. */
export interface SimSpec {
  /** Loss per node link, both directions (Bernoulli). */
  readonly loss: number;
  readonly clientMbps: number;
  readonly serverMbps: number;
  readonly diskMiBs: number;
  readonly inflateMiBs: number;
  readonly bootUs: readonly [Micros, Micros];
  readonly setupUs: readonly [Micros, Micros];
  /** Nodes whose first setups fail before one passes. */
  readonly flakyNodes: number;
  /** Nodes whose setup always fails, so the pool gives them up and spares replace them. */
  readonly badNodes: number;
  /** Nodes that crash while loading and come back (the load is retried). */
  readonly crashNodes: number;
}

/** Where a swap's image servers and loads find an image's sizes. */
export interface ImageSizes {
  readonly compressedBytes: number;
  readonly uncompressedBytes: number;
}

/** The swap machine's plan for a spec. `deltas` names each node's saved delta per partition. */
export function swapPlanOf(
  spec: ExperimentSpec,
  o: { sizes: readonly ImageSizes[]; heartbeatUs: Micros; deltas?: ReadonlyMap<string, string>; limits?: Partial<SwapLimits> },
): SwapPlan {
  const imageIndex = new Map(spec.images.map((img, i) => [img.name, i]));
  const images: ImagePlan[] = spec.images.map((img, i) => ({ name: img.name, uncompressedBytes: (o.sizes[i] as ImageSizes).uncompressedBytes }));
  const l = spec.limits;
  const limits: SwapLimits = {
    ...DEFAULT_LIMITS,
    ...(l.loadUs === undefined ? {} : { loadBaseUs: l.loadUs, loadPer100MiBUs: 0 }),
    ...(l.bootUs === undefined ? {} : { bootTimeoutUs: l.bootUs }),
    ...(l.setupUs === undefined ? {} : { setupTimeoutUs: l.setupUs }),
    ...(l.wedgedUs === undefined ? {} : { wedgedUs: l.wedgedUs }),
    ...(l.saveUs === undefined ? {} : { saveTimeoutUs: l.saveUs }),
    ...(l.setupWindow === undefined ? {} : { setupWindow: l.setupWindow }),
    ...(l.setupAttempts === undefined ? {} : { setupAttemptsMax: l.setupAttempts }),
    ...(l.setupRetryUs === undefined ? {} : { setupRetryUs: l.setupRetryUs }),
    ...(l.imageLingerUs === undefined ? {} : { imageLingerUs: l.imageLingerUs }),
    ...o.limits,
  };
  const syncIndex = spec.syncServer === null ? -1 : spec.nodes.findIndex((n) => n.name === spec.syncServer);
  return {
    experiment: spec.name,
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      nonFatal: n.nonFatal,
      partitions: n.partitions.map((p) => ({ partition: p.partition, image: imageIndex.get(p.image) as number, delta: o.deltas?.get(deltaKey(n.name, p.partition)) ?? null })),
    })),
    images,
    syncServer: syncIndex < 0 ? null : syncIndex,
    saveDiskState: spec.saveDiskState,
    spares: spec.spares,
    heartbeatUs: o.heartbeatUs,
    limits,
  };
}

export function deltaKey(node: string, partition: number): string {
  return `${node}/${partition}`;
}
