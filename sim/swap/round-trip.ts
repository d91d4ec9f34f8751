import { createRng } from "../../core/engine/index.js";
import { SIM_BLOCK_BYTES, SimDisk, deltaOf, editDisk, lay, randomDisk, sameDiskState, signatureOf } from "./disks.js";
import { runSwapIn, runSwapOut, type PhaseResult, type SwapCosts } from "./model.js";

/**
 * One experiment's swap-out and swap-in with real bytes: every node loaded the same base, was
 * edited its own way, saved its delta at swap-out; at swap-in its disk (holding whatever another
 * experiment left) gets the base and then its delta. The timing model runs on the deltas' sizes.
 */
export interface RoundTripOptions {
  nodes: number;
  blocks: number;
  usedFraction: number;
  editsPerNode: number;
  seed: number;
  costs: SwapCosts;
  /** Frisbee's rate on the server link while it sends the base. */
  frisbeeMbps: number;
}

export interface RoundTripResult {
  restored: number;
  /** Nodes whose disk did not come back (their indices). */
  notRestored: number[];
  deltaBytes: number[];
  swapOut: PhaseResult;
  swapIn: PhaseResult;
}

export function swapRoundTrip(o: RoundTripOptions): RoundTripResult {
  const rng = createRng(o.seed);
  const base = randomDisk(o.blocks, o.usedFraction, rng.fork("base"));
  const entries = signatureOf(base);
  const baseRanges = base.inUse();
  const saved: SimDisk[] = [];
  const deltas = [];
  for (let i = 0; i < o.nodes; i++) {
    const disk = base.copy();
    editDisk(disk, o.editsPerNode, rng.fork(`edits:${i}`));
    saved.push(disk);
    deltas.push(deltaOf(entries, disk));
  }
  const costs = { ...o.costs, inUseBytes: base.inUse().reduce((s, r) => s + r.sectorCount * 512, 0) };
  const swapOut = runSwapOut(costs, deltas, o.seed);
  const imageBytes = costs.inUseBytes / costs.compressRatio;
  // Frisbee delivers the base no faster than the server sends it and the nodes write and inflate it.
  const mibs = (bytes: number, rate: number): number => (bytes / 1024 / 1024 / rate) * 1e6;
  const frisbeeUs = Math.ceil(Math.max((imageBytes * 8) / o.frisbeeMbps, mibs(costs.inUseBytes, costs.diskWriteMiBs), mibs(costs.inUseBytes, costs.inflateMiBs)));
  const swapIn = runSwapIn(costs, deltas, { doneUs: deltas.map(() => frisbeeUs), imageBytes, serverMbps: o.frisbeeMbps }, o.seed);
  const notRestored: number[] = [];
  for (let i = 0; i < o.nodes; i++) {
    const target = randomDisk(o.blocks, 0.5, rng.fork(`previous:${i}`));
    lay(target, base, baseRanges);
    lay(target, saved[i]!, deltas[i]!.ranges);
    if (!sameDiskState(saved[i]!, target)) notRestored.push(i);
  }
  return { restored: o.nodes - notRestored.length, notRestored, deltaBytes: deltas.map((d) => d.dataBytes), swapOut, swapIn };
}

export { SIM_BLOCK_BYTES };
