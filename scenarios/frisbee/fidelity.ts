import { createRng } from "../../core/engine/index.js";
import { pacedBlocksPerSec, pacingForBandwidth } from "../../core/frisbee/rate.js";
import { chunkModelValidity, planPacing, runChunkModel } from "../../sim/frisbee/chunk-model/index.js";
import type { FrisbeePlanOptions } from "../../sim/frisbee/plan-options.js";
import { startTimes } from "../../sim/frisbee/start.js";
import { makeFidelityImage, runRealSetup, type FidelityImage, type RealMeasures } from "../../real/frisbee/fidelity.js";
import { unzipImage } from "../../real/image/index.js";
import { buildWorld } from "../build.js";
import { parseStartPattern, type StartPattern } from "../start.js";
import { planScenario } from "./plan.js";

const MIB = 2 ** 20;

/** One setup of `bench fidelity`: clients, loss at the server, and how the clients start. */
export interface FidelitySetup {
  clients: number;
  serverLoss: number;
  /** A start pattern as the planner reads it, e.g. simultaneous or clustered:2:1s. */
  start: string;
}

export interface FidelityOptions {
  setups: FidelitySetup[];
  sizeBytes: number;
  /** The server's bandwidth target in bit/s, for the real server and the models alike. */
  bandwidthBps: number;
  /** Real runs per setup, and simulated seeds per setup and model, averaged. */
  realRuns: number;
  simSeeds: number;
  seed: number;
  port: number;
  dir?: string;
  log: (line: string) => void;
}

/** The figures compared, of the real run and of a model. */
export interface Measures {
  runtimeSecMean: number;
  runtimeSecMax: number;
  blocksSent: number;
  /** Blocks sent beyond one copy of the image, as a share of the image. */
  duplicatePct: number;
  requests: number;
  prequests: number;
  /** Blocks the server sent per second it had work: its pacing, if it kept it. */
  serverBlocksPerSec: number;
}

export const MEASURES: readonly (keyof Measures)[] = ["runtimeSecMean", "runtimeSecMax", "blocksSent", "duplicatePct", "requests", "prequests", "serverBlocksPerSec"];

/**
 * The models compared: the packet model at the real server's pacing; the packet model
 * recalibrated to the rate the real server kept (`serverBlocksPerSec`), which on a loaded machine
 * falls short of its pacing; the chunk model at the pacing, where it is valid.
 */
export type FidelityModel = "packet" | "calibrated" | "chunk";

/** One line of the comparison: a setup's measure, the real figure and a model's, and the error. */
export interface FidelityRow {
  setup: string;
  measure: keyof Measures;
  model: FidelityModel;
  real: number;
  sim: number;
  /** (sim - real) / real in percent; 0 when both are 0, null when only the real figure is. */
  errorPct: number | null;
}

export interface FidelityResult {
  diskMiB: number;
  imageMiB: number;
  imageBlocks: number;
  /** What the image's inflate and write alone did on this machine (MiB of disk per second): the models' client speed. */
  inflateMiBs: number;
  burst: number;
  gapUs: number;
  /** Per setup, the burst gap the calibrated packet model ran with (the real server's kept rate). */
  calibratedGapUs: Record<string, number>;
  rows: FidelityRow[];
  /** Setups whose real targets differed from the disk (a failed real run). */
  mismatched: string[];
}

export function setupName(s: FidelitySetup): string {
  return `${s.clients} client${s.clients === 1 ? "" : "s"}, server loss ${s.serverLoss}, start ${s.start}`;
}

/** (sim - real) / real in percent, rounded to 0.1. */
export function errorPct(real: number, sim: number): number | null {
  if (real === 0) return sim === 0 ? 0 : null;
  return Math.round(((sim - real) / real) * 1000) / 10;
}

/**
 * `testbed bench fidelity`: for each setup, runs our real frisbeed and frisbee clients on loopback
 * multicast (loss dropped by the real server as it sends), then the same setup in the packet and
 * the chunk model, and lines the measures up with the error of each model.
 */
export async function runFidelityBench(o: FidelityOptions): Promise<FidelityResult> {
  o.log(`writing a ${o.sizeBytes / MIB} MiB disk-like file (seed ${o.seed}) and its image`);
  const img = await makeFidelityImage(o.sizeBytes, o.seed, o.dir);
  try {
    const inflateMiBs = await measureInflate(img);
    const pacing = pacingForBandwidth(o.bandwidthBps);
    o.log(`image ${(img.imageBytes / MIB).toFixed(2)} MiB (${img.imageBlocks} blocks); inflate and write alone ${inflateMiBs.toFixed(0)} MiB/s; pacing ${pacing.burstPackets} blocks every ${pacing.burstGapUs} us`);
    const rows: FidelityRow[] = [];
    const mismatched: string[] = [];
    const calibratedGapUs: Record<string, number> = {};
    for (const setup of o.setups) {
      const name = setupName(setup);
      const pattern = parseStartPattern(setup.start) as StartPattern;
      const offsetsMs = startTimes(pattern, setup.clients, 0, createRng(o.seed).fork("starts")).map((us) => us / 1000);
      o.log(`${name}: real`);
      const reals: RealMeasures[] = [];
      for (let r = 0; r < o.realRuns; r++) {
        reals.push(await runRealSetup(img, { clients: setup.clients, startOffsetsMs: offsetsMs, sendDrop: setup.serverLoss, seed: o.seed + r }, { port: o.port, burst: pacing.burstPackets, gapUs: pacing.burstGapUs }));
      }
      if (reals.some((m) => !m.identical)) mismatched.push(name);
      const real = mean(reals.map((m) => realMeasures(m, img.imageBlocks)));
      const plan = planOptions(img, inflateMiBs, pacing, pattern, setup);
      const seeds = Array.from({ length: o.simSeeds }, (_, k) => o.seed + k);
      const simulate = (model: "packet" | "chunk", p: FrisbeePlanOptions): Measures => mean(seeds.map((seed) => simMeasures(model, { ...p, seed }, setup, img.imageBlocks)));
      const line = (model: FidelityModel, sim: Measures): void => {
        for (const measure of MEASURES) rows.push({ setup: name, measure, model, real: real[measure], sim: sim[measure], errorPct: errorPct(real[measure], sim[measure]) });
      };
      o.log(`${name}: packet model`);
      const packet = simulate("packet", plan);
      line("packet", packet);
      const gapUs = calibratedGap(pacing.burstGapUs, packet.serverBlocksPerSec, real.serverBlocksPerSec);
      calibratedGapUs[name] = gapUs;
      o.log(`${name}: packet model at the real server's rate (a burst every ${gapUs} us)`);
      line("calibrated", simulate("packet", { ...plan, pacing: { burst: pacing.burstPackets, gapUs } }));
      if (chunkModelValidity(plan, setup.serverLoss) === null) {
        o.log(`${name}: chunk model`);
        line("chunk", simulate("chunk", plan));
      }
    }
    return { diskMiB: img.diskBytes / MIB, imageMiB: round(img.imageBytes / MIB), imageBlocks: img.imageBlocks, inflateMiBs: round(inflateMiBs), burst: pacing.burstPackets, gapUs: pacing.burstGapUs, calibratedGapUs, rows, mismatched };
  } finally {
    img.close();
  }
}

/**
 * The burst gap at which the model's server keeps the real server's rate: the model's gap scaled
 * by how far the real server fell short of (or beat) the model's rate while it had work. A rate
 * not measured (no work) leaves the gap as it was.
 */
export function calibratedGap(gapUs: number, simBlocksPerSec: number, realBlocksPerSec: number): number {
  if (!(simBlocksPerSec > 0 && realBlocksPerSec > 0)) return gapUs;
  return Math.max(1, Math.round((gapUs * simBlocksPerSec) / realBlocksPerSec));
}

/** The disk MiB per second of inflating and writing the image from a local file. */
async function measureInflate(img: FidelityImage): Promise<number> {
  const started = performance.now();
  await unzipImage(img.image, `${img.dir}/inflated.raw`, { zeroFill: false });
  return img.diskBytes / MIB / ((performance.now() - started) / 1000);
}

/**
 * The plan the models run for a setup: the real image's sizes, the real server's pacing, clients
 * as fast as this machine inflates (loopback is no limit), loss on what the server sends.
 */
function planOptions(img: FidelityImage, inflateMiBs: number, pacing: { burstPackets: number; burstGapUs: number }, start: StartPattern, s: FidelitySetup): FrisbeePlanOptions {
  return {
    clients: [s.clients],
    losses: [s.serverLoss],
    lossAt: "server",
    imageMiB: img.imageBytes / MIB,
    dataMiB: img.diskBytes / MIB,
    clientMbps: 10_000,
    pacing: { burst: pacing.burstPackets, gapUs: pacing.burstGapUs },
    // Writes go to the page cache: the inflate-and-write figure is the client's speed.
    diskMiBs: inflateMiBs * 10,
    inflateMiBs,
    start,
    heartbeatUs: 0,
    seed: 1,
    model: "packet",
  };
}

function realMeasures(m: RealMeasures, imageBlocks: number): Measures {
  return measures(m.runtimesSec, m.blocksSent, m.requests, m.prequests, m.serverBusySec, imageBlocks);
}

function simMeasures(model: "packet" | "chunk", o: FrisbeePlanOptions, s: FidelitySetup, imageBlocks: number): Measures {
  if (model === "chunk") {
    const r = runChunkModel({ ...o, model: "chunk" }, s.clients, s.serverLoss);
    const runtimes = [r.stats.runtimeSecMean, r.stats.runtimeSecMax];
    // The chunk model keeps no busy time: its server sends at its pacing while it has work.
    const busySec = r.blocksSent / pacedBlocksPerSec(planPacing(o));
    return { ...measures(runtimes, r.blocksSent, r.requests, r.prequests, busySec, imageBlocks), runtimeSecMean: r.stats.runtimeSecMean };
  }
  const scenario = planScenario(o, s.clients, s.serverLoss);
  const built = buildWorld(scenario, o.seed);
  built.world.engine.run({ untilUs: scenario.durationUs });
  const f = built.frisbee;
  if (f === null) throw new Error("the plan's scenario has no Frisbee");
  const runtimes = f.clients.filter((l) => l.client.state === "done").map((l) => (l.client.counters.doneAtUs - l.startUs) / 1e6);
  const server = (f.servers[0] as (typeof f.servers)[number]).server;
  const st = server.stats;
  return measures(runtimes, st.blocksSent, st.requests, st.prequests, server.busyUsNow() / 1e6, imageBlocks);
}

function measures(runtimesSec: readonly number[], blocksSent: number, requests: number, prequests: number, busySec: number, imageBlocks: number): Measures {
  const sum = runtimesSec.reduce((a, b) => a + b, 0);
  return {
    runtimeSecMean: runtimesSec.length === 0 ? 0 : sum / runtimesSec.length,
    runtimeSecMax: runtimesSec.length === 0 ? 0 : Math.max(...runtimesSec),
    blocksSent,
    duplicatePct: ((blocksSent - imageBlocks) / imageBlocks) * 100,
    requests,
    prequests,
    serverBlocksPerSec: busySec > 0 ? blocksSent / busySec : 0,
  };
}

function mean(all: Measures[]): Measures {
  const out = {} as Measures;
  for (const k of MEASURES) out[k] = round(all.reduce((a, m) => a + m[k], 0) / all.length);
  return out;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
