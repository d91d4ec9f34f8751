import { createRng } from "../../core/engine/index.js";
import { chunkModelValidity, runChunkModel } from "../frisbee/chunk-model/index.js";
import type { FrisbeePlanOptions } from "../frisbee/plan-options.js";
import { runSwapIn, runSwapOut, type Bottleneck, type NodeDelta, type SwapCosts } from "./model.js";

/**
 * `testbed plan swap`: how long saving every node's disk state at swap-out, and reloading it at
 * swap-in, takes for an experiment of N nodes whose disks changed by P% each, and what limits it.
 */
export interface SwapPlanOptions {
  nodes: number[];
  deltaPcts: number[];
  diskGiB: number;
  inUsePct: number;
  /** Each node's delta varies by up to this share around P% (uniform). */
  jitterPct: number;
  compressRatio: number;
  diskReadMiBs: number;
  diskWriteMiBs: number;
  hashMiBs: number;
  compressMiBs: number;
  inflateMiBs: number;
  cores: number;
  nodeMbps: number;
  serverMbps: number;
  /** Frisbee's bandwidth target for the base image, and its loss (per receiver). */
  frisbeeMbps: number;
  loss: number;
  startSpreadSec: number;
  seed: number;
}

export interface SwapPlanRow {
  nodes: number;
  deltaPct: number;
  /** Sum of all nodes' compressed deltas, MiB. */
  deltaMiB: number;
  swapOutSec: number;
  swapOutBottleneck: Bottleneck;
  swapOutBoundsSec: Record<Bottleneck, number>;
  frisbeeSec: number;
  swapInSec: number;
  swapInBottleneck: Bottleneck;
  swapInBoundsSec: Record<Bottleneck, number>;
  trace: string;
}

const MIB = 1024 * 1024;

export class SwapPlanError extends Error {
  override readonly name = "SwapPlanError";
}

export function swapCosts(o: SwapPlanOptions): SwapCosts {
  return {
    inUseBytes: o.diskGiB * 1024 * MIB * (o.inUsePct / 100),
    diskReadMiBs: o.diskReadMiBs, diskWriteMiBs: o.diskWriteMiBs, hashMiBs: o.hashMiBs, compressMiBs: o.compressMiBs, inflateMiBs: o.inflateMiBs,
    cores: o.cores, compressRatio: o.compressRatio, nodeMbps: o.nodeMbps, serverMbps: o.serverMbps, startSpreadUs: Math.round(o.startSpreadSec * 1e6),
  };
}

/** Every node's delta: P% of its data in use, give or take the jitter, drawn per node from the seed. */
export function nodeDeltas(o: SwapPlanOptions, nodes: number, deltaPct: number): NodeDelta[] {
  const rng = createRng(o.seed).fork(`deltas:${nodes}:${deltaPct}`);
  const inUse = swapCosts(o).inUseBytes;
  return Array.from({ length: nodes }, () => {
    const pct = Math.max(0, deltaPct * (1 + (o.jitterPct / 100) * (2 * rng.next() - 1)));
    return { dataBytes: Math.round((inUse * Math.min(100, pct)) / 100) };
  });
}

/** The base image's Frisbee run, with the chunk model, as the swap-in's first phase. */
export function frisbeeOptions(o: SwapPlanOptions, nodes: number): FrisbeePlanOptions {
  const dataMiB = (o.diskGiB * 1024 * o.inUsePct) / 100;
  return {
    clients: [nodes], losses: [o.loss], lossAt: "receivers", imageMiB: dataMiB / o.compressRatio, dataMiB, clientMbps: o.nodeMbps,
    pacing: { serverMbps: o.frisbeeMbps }, diskMiBs: o.diskWriteMiBs, inflateMiBs: o.inflateMiBs, start: { kind: "simultaneous" }, heartbeatUs: 10_000_000, seed: o.seed, model: "chunk",
  };
}

const seconds = (b: Record<Bottleneck, number>): Record<Bottleneck, number> => ({ disk: b.disk / 1e6, cpu: b.cpu / 1e6, "server link": b["server link"] / 1e6 });

/**
 * What keeps the plan's base image from being sent under the chunk model (the same for every row:
 * the model's validity depends on the links and loss, not on the node count), or null. Checked
 * before any row runs, here or on workers or shards.
 */
export function swapPlanProblem(o: SwapPlanOptions): string | null {
  const invalid = chunkModelValidity(frisbeeOptions(o, 1), o.loss);
  return invalid === null ? null : `the base's Frisbee run: ${invalid}`;
}

export function planSwapRow(o: SwapPlanOptions, nodes: number, deltaPct: number, onProgress?: (fraction: number) => void): SwapPlanRow {
  const f = frisbeeOptions(o, nodes);
  const invalid = swapPlanProblem(o);
  if (invalid !== null) throw new SwapPlanError(invalid);
  const costs = swapCosts(o);
  const deltas = nodeDeltas(o, nodes, deltaPct);
  const out = runSwapOut(costs, deltas, o.seed);
  const frisbee = runChunkModel(f, nodes, o.loss, (x) => onProgress?.(x * 0.9));
  const doneUs = Array.from(frisbee.clientDoneUs, (t) => (t < 0 ? Infinity : t));
  if (doneUs.some((t) => t === Infinity)) throw new SwapPlanError(`the base's Frisbee run left ${doneUs.filter((t) => t === Infinity).length} of ${nodes} nodes without the image`);
  const swapIn = runSwapIn(costs, deltas, { doneUs, imageBytes: f.imageMiB * MIB, serverMbps: o.frisbeeMbps }, o.seed);
  onProgress?.(1);
  return {
    nodes, deltaPct,
    deltaMiB: deltas.reduce((s, d) => s + d.dataBytes, 0) / costs.compressRatio / MIB,
    swapOutSec: out.makespanUs / 1e6, swapOutBottleneck: out.bottleneck, swapOutBoundsSec: seconds(out.boundsUs),
    frisbeeSec: frisbee.simSeconds,
    swapInSec: swapIn.makespanUs / 1e6, swapInBottleneck: swapIn.bottleneck, swapInBoundsSec: seconds(swapIn.boundsUs),
    trace: `${out.trace}/${frisbee.traceHash}/${swapIn.trace}`,
  };
}
