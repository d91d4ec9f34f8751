import { Engine, createRng, type Micros } from "../../core/engine/index.js";
import { FluidLink } from "./fluid.js";

/**
 * Swap-out and swap-in of many nodes' disk state, as costs: each node reads its disk's data in
 * use, hashes it against the base signature and compresses its delta (disk and CPU, pipelined, as
 * real/image/delta.ts does), streaming the delta to one file server whose link all uploads share.
 * At swap-in every node gets the base image by Frisbee (the chunk model's completion times, given)
 * and then downloads its own delta over the same server link, laying it as it arrives.
 */
export interface SwapCosts {
  /** Bytes in use on each node's disk (what a full image holds). */
  inUseBytes: number;
  diskReadMiBs: number;
  diskWriteMiBs: number;
  /** Per core: hashing (SHA-1), deflate at the image level, inflate (MiB/s of data). */
  hashMiBs: number;
  compressMiBs: number;
  inflateMiBs: number;
  cores: number;
  /** Data bytes per compressed byte. */
  compressRatio: number;
  nodeMbps: number;
  serverMbps: number;
  /** Commands reach the nodes spread over this long (a parallel ssh, an agent's poll). */
  startSpreadUs: Micros;
}

export interface NodeDelta {
  /** Data bytes in the node's delta (before compression). */
  dataBytes: number;
}

export type Bottleneck = "disk" | "cpu" | "server link";

export interface PhaseResult {
  /** When the last node was done. */
  makespanUs: Micros;
  nodeDoneUs: Float64Array;
  /** Lower bounds on the makespan from each resource alone; the largest is the bottleneck. */
  boundsUs: Record<Bottleneck, Micros>;
  bottleneck: Bottleneck;
  serverBytes: number;
  serverBusyUs: Micros;
  events: number;
  trace: string;
}

const MIB = 1024 * 1024;
const usFor = (bytes: number, mibs: number): number => (bytes / MIB / mibs) * 1e6;
const bytesPerUs = (mbps: number): number => (mbps * 1e6) / 8 / 1e6;

/** How long one node's local work takes: the disk and the CPU work in a pipeline. */
function localUs(c: SwapCosts, readBytes: number, hashBytes: number, compressBytes: number): { diskUs: number; cpuUs: number; totalUs: number } {
  const diskUs = usFor(readBytes, c.diskReadMiBs);
  const hashUs = usFor(hashBytes, c.hashMiBs);
  const compressUs = usFor(compressBytes, c.compressMiBs);
  // Hashing runs on the main thread, deflate on the thread pool: two cores run them side by side.
  const cpuUs = c.cores >= 2 ? Math.max(hashUs, compressUs) : hashUs + compressUs;
  return { diskUs, cpuUs, totalUs: Math.max(diskUs, cpuUs) };
}

function latest(times: ArrayLike<number>): number {
  let t = 0;
  for (let i = 0; i < times.length; i++) t = Math.max(t, times[i] as number);
  return t;
}

function bottleneckOf(b: Record<Bottleneck, number>): Bottleneck {
  return (Object.keys(b) as Bottleneck[]).reduce((x, y) => (b[y] > b[x] ? y : x));
}

export function runSwapOut(c: SwapCosts, deltas: readonly NodeDelta[], seed: number): PhaseResult {
  const engine = new Engine();
  const rng = createRng(seed).fork("swap-out");
  const link = new FluidLink(engine, "server", bytesPerUs(c.serverMbps));
  const n = deltas.length;
  const done = new Float64Array(n);
  const localDone = new Uint8Array(n);
  const uploadDone = new Uint8Array(n);
  let maxDisk = 0;
  let maxCpu = 0;
  let wireTotal = 0;
  const finish = (i: number): void => {
    if (localDone[i] === 1 && uploadDone[i] === 1) done[i] = engine.now;
  };
  const localEnd = engine.register<undefined>("swap-out.local-end", (i) => {
    localDone[i] = 1;
    link.setCap(i, bytesPerUs(c.nodeMbps));
    finish(i);
  });
  const start = engine.register<undefined>("swap-out.start", (i) => {
    const d = deltas[i]!;
    const t = localUs(c, c.inUseBytes, c.inUseBytes, d.dataBytes);
    const wire = d.dataBytes / c.compressRatio;
    // The delta streams out as it is made: no faster than it is produced until the node is done.
    const producedCap = t.totalUs > 0 ? wire / t.totalUs : Infinity;
    link.add(i, wire, Math.min(bytesPerUs(c.nodeMbps), producedCap), (id) => {
      uploadDone[id] = 1;
      finish(id);
    });
    engine.after(Math.max(1, Math.ceil(t.totalUs)), localEnd, i);
  });
  for (let i = 0; i < n; i++) {
    const d = deltas[i]!;
    const t = localUs(c, c.inUseBytes, c.inUseBytes, d.dataBytes);
    maxDisk = Math.max(maxDisk, t.diskUs);
    maxCpu = Math.max(maxCpu, t.cpuUs);
    wireTotal += d.dataBytes / c.compressRatio;
    engine.at(Math.floor(rng.next() * c.startSpreadUs), start, i);
  }
  engine.run();
  const makespanUs = latest(done);
  const boundsUs = { disk: maxDisk, cpu: maxCpu, "server link": wireTotal / bytesPerUs(c.serverMbps) };
  return { makespanUs, nodeDoneUs: done, boundsUs, bottleneck: bottleneckOf(boundsUs), serverBytes: link.carriedBytes, serverBusyUs: link.busyUs, events: engine.executed, trace: engine.trace.hex() };
}

export interface FrisbeeBase {
  /** When each node had the whole base image on its disk (the chunk model's answer). */
  doneUs: readonly number[];
  /** The base's compressed size and the rate Frisbee used on the server's link meanwhile. */
  imageBytes: number;
  serverMbps: number;
}

export function runSwapIn(c: SwapCosts, deltas: readonly NodeDelta[], base: FrisbeeBase, seed: number): PhaseResult {
  const engine = new Engine();
  createRng(seed).fork("swap-in");
  const frisbeeEndUs = latest(base.doneUs);
  // While Frisbee multicasts, its bandwidth target is taken from the server's link.
  const link = new FluidLink(engine, "server", Math.max(bytesPerUs(c.serverMbps) - bytesPerUs(base.serverMbps), bytesPerUs(c.serverMbps) * 0.05));
  const frisbeeEnd = engine.register<undefined>("swap-in.frisbee-end", () => link.setCapacity(bytesPerUs(c.serverMbps)));
  engine.at(Math.ceil(frisbeeEndUs), frisbeeEnd);
  const n = deltas.length;
  const done = new Float64Array(n);
  let maxDisk = 0;
  let maxCpu = 0;
  let wireTotal = 0;
  const startDelta = engine.register<undefined>("swap-in.delta", (i) => {
    const d = deltas[i]!;
    const applyUs = Math.max(usFor(d.dataBytes, c.diskWriteMiBs), usFor(d.dataBytes, c.inflateMiBs));
    const startedUs = engine.now;
    link.add(i, d.dataBytes / c.compressRatio, bytesPerUs(c.nodeMbps), (id) => {
      done[id] = Math.max(engine.now, startedUs + applyUs);
    });
  });
  for (let i = 0; i < n; i++) {
    const d = deltas[i]!;
    maxDisk = Math.max(maxDisk, usFor(c.inUseBytes + d.dataBytes, c.diskWriteMiBs));
    maxCpu = Math.max(maxCpu, usFor(c.inUseBytes + d.dataBytes, c.inflateMiBs));
    wireTotal += d.dataBytes / c.compressRatio;
    engine.at(Math.ceil(base.doneUs[i] ?? 0), startDelta, i);
  }
  engine.run();
  const makespanUs = latest(done);
  const serverUs = (base.imageBytes / bytesPerUs(base.serverMbps)) + wireTotal / bytesPerUs(c.serverMbps);
  const boundsUs = { disk: maxDisk, cpu: maxCpu, "server link": serverUs };
  return { makespanUs, nodeDoneUs: done, boundsUs, bottleneck: bottleneckOf(boundsUs), serverBytes: link.carriedBytes + base.imageBytes, serverBusyUs: link.busyUs, events: engine.executed, trace: engine.trace.hex() };
}
