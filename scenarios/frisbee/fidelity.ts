import { createRng } from "../../core/engine/index.js";
import { pacedBlocksPerSec, pacingForBandwidth } from "../../core/frisbee/rate.js";
import { chunkModelValidity, planPacing, runChunkModel } from "../../sim/frisbee/chunk-model/index.js";
import type { FrisbeePlanOptions } from "../../sim/frisbee/plan-options.js";
import { startTimes } from "../../sim/frisbee/start.js";
import { makeFidelityImage, runRealSetup, type FidelityImage, type RealMeasures } from "../../real/frisbee/fidelity.js";
import { unzipImage } from "../../real/image/index.js";
import { buildWorld } from "../build.js";
import { parseStartPattern, type StartPattern } from "../start.js";
import { MEASURES, agrees, errorPct, meanMeasures, measures, round, type Measures } from "./fidelity-agreement.js";
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
  /** Times a real run whose clients' sockets dropped datagrams is run again (the last is kept, flagged). */
  retries: number;
  simSeeds: number;
  seed: number;
  port: number;
  dir?: string;
  log: (line: string) => void;
}

export { AGREEMENT_PCT, MEASURES, agreementFloor, agrees, errorPct, type Measures } from "./fidelity-agreement.js";

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
  /** Within AGREEMENT_PCT or the measure's floor (agreementFloor); null for the server's kept rate (an input, not a prediction). */
  agrees: boolean | null;
}

/** What the real runs of a setup were like beyond their measures: how to read their figures. */
export interface RealRunsInfo {
  /** Real runs made, counting those repeated for socket drops. */
  attempts: number;
  /** How far apart the clients started (the last's start after the first's), mean over the runs kept, in seconds. */
  startSpreadSec: number;
  /** Datagrams the clients' sockets dropped in the runs kept (loss nobody injected); null where unreadable. */
  socketDrops: number | null;
  /** The host's UDP RcvbufErrors over the runs kept (every program's); null where unreadable. */
  hostRcvbufErrors: number | null;
  /** The highest 1-minute load average at the end of a run kept. */
  load1: number;
  /** Seconds the real server had work, mean over the runs kept. */
  serverBusySec: number;
  /**
   * Idle requests the real clients made (no useful block for 90 ms: a server or client the machine
   * did not schedule, or blocks lost at the end of a chunk), mean over the runs kept, and the
   * calibrated model's (mean over seeds): more real than modelled means the machine paused.
   */
  clientIdles: number;
  calibratedIdles: number;
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
  /** What the models were given (`compareModels` takes it with `recorded` to compare again). */
  inputs: ModelInputs;
  /** Per setup, what each real run kept measured. */
  recorded: Record<string, RecordedRun[]>;
  /** Per setup, what its real runs were like. */
  realRuns: Record<string, RealRunsInfo>;
  rows: FidelityRow[];
  /** Per model, how many of its compared figures agree (rows with agrees non-null). */
  agreement: Partial<Record<FidelityModel, { agree: number; of: number }>>;
  /** Setups whose real targets differed from the disk (a failed real run). */
  mismatched: string[];
}

export function setupName(s: FidelitySetup): string {
  return `${s.clients} client${s.clients === 1 ? "" : "s"}, server loss ${s.serverLoss}, start ${s.start}`;
}

/**
 * `testbed bench fidelity`: for each setup, runs our real frisbeed and frisbee clients on loopback
 * multicast (loss dropped by the real server as it sends), then the same setup in the packet and
 * the chunk model, the clients starting when the real ones did, and lines the measures up with the
 * error of each model and whether it agrees.
 */
export async function runFidelityBench(o: FidelityOptions): Promise<FidelityResult> {
  o.log(`writing a ${o.sizeBytes / MIB} MiB disk-like file (seed ${o.seed}) and its image`);
  const img = await makeFidelityImage(o.sizeBytes, o.seed, o.dir);
  try {
    const inflateMiBs = await measureInflate(img);
    const pacing = pacingForBandwidth(o.bandwidthBps);
    o.log(`image ${(img.imageBytes / MIB).toFixed(2)} MiB (${img.imageBlocks} blocks); inflate and write alone ${inflateMiBs.toFixed(0)} MiB/s; pacing ${pacing.burstPackets} blocks every ${pacing.burstGapUs} us`);
    const inputs: ModelInputs = { imageBytes: img.imageBytes, diskBytes: img.diskBytes, imageBlocks: img.imageBlocks, inflateMiBs: round(inflateMiBs), burst: pacing.burstPackets, gapUs: pacing.burstGapUs };
    const result: FidelityResult = { diskMiB: img.diskBytes / MIB, imageMiB: round(img.imageBytes / MIB), imageBlocks: img.imageBlocks, inflateMiBs: round(inflateMiBs), burst: pacing.burstPackets, gapUs: pacing.burstGapUs, inputs, recorded: {}, calibratedGapUs: {}, realRuns: {}, rows: [], agreement: {}, mismatched: [] };
    for (const setup of o.setups) {
      const name = setupName(setup);
      const reals = await realRuns(o, img, setup, pacing);
      if (reals.some((m) => !m.identical)) result.mismatched.push(name);
      result.recorded[name] = reals.map(recordOf);
      const compared = compareModels(inputs, setup, result.recorded[name], o.simSeeds, o.seed, o.log);
      result.realRuns[name] = { ...runsInfo(reals), calibratedIdles: compared.calibratedIdles };
      result.rows.push(...compared.rows);
      result.calibratedGapUs[name] = compared.calibratedGapUs;
    }
    result.agreement = tally(result.rows);
    return result;
  } finally {
    img.close();
  }
}

/** What the models take of a bench's machine: the image's sizes, the clients' speed, the server's pacing. */
export interface ModelInputs {
  imageBytes: number;
  diskBytes: number;
  imageBlocks: number;
  /** Inflating and writing the image alone, disk MiB per second. */
  inflateMiBs: number;
  burst: number;
  gapUs: number;
}

/** What a real run measured that the models are set from or compared with (kept in --json, so a run can be compared again). */
export type RecordedRun = Pick<RealMeasures, "runtimesSec" | "startOffsetsUs" | "blocksSent" | "requests" | "prequests" | "serverBusySec" | "clientIdles">;

function recordOf(m: RealMeasures): RecordedRun {
  return { runtimesSec: m.runtimesSec, startOffsetsUs: m.startOffsetsUs, blocksSent: m.blocksSent, requests: m.requests, prequests: m.prequests, serverBusySec: m.serverBusySec, clientIdles: m.clientIdles };
}

/**
 * The models on a setup beside its real runs: the packet model at the pacing, the calibrated one
 * at the rate the real server kept, the chunk model where valid. Seed k replays the starts of real
 * run k (mod the runs): every model starts each client when the real one started.
 */
export function compareModels(inputs: ModelInputs, setup: FidelitySetup, reals: readonly RecordedRun[], simSeeds: number, seed: number, log: (line: string) => void): { rows: FidelityRow[]; calibratedGapUs: number; calibratedIdles: number } {
  const name = setupName(setup);
  const real = meanMeasures(reals.map((m) => measures(m.runtimesSec, m.blocksSent, m.requests, m.prequests, m.serverBusySec, inputs.imageBlocks)));
  const plan = planOptions(inputs, { burstPackets: inputs.burst, burstGapUs: inputs.gapUs }, parseStartPattern(setup.start) as StartPattern, setup);
  let idles = 0;
  const simulate = (model: "packet" | "chunk", p: FrisbeePlanOptions): Measures => {
    idles = 0;
    const runs = Array.from({ length: simSeeds }, (_, k) => simMeasures(model, { ...p, seed: seed + k, start: { kind: "at", offsetsUs: (reals[k % reals.length] as RecordedRun).startOffsetsUs } }, setup, inputs.imageBlocks, (n) => (idles += n / simSeeds)));
    return meanMeasures(runs);
  };
  const rows: FidelityRow[] = [];
  const line = (model: FidelityModel, sim: Measures): void => {
    for (const measure of MEASURES) rows.push({ setup: name, measure, model, real: real[measure], sim: sim[measure], errorPct: errorPct(real[measure], sim[measure]), agrees: agrees(measure, real[measure], sim[measure], setup.clients) });
  };
  log(`${name}: packet model`);
  const packet = simulate("packet", plan);
  line("packet", packet);
  const calibratedGapUs = calibratedGap(inputs.gapUs, packet.serverBlocksPerSec, real.serverBlocksPerSec);
  log(`${name}: packet model at the real server's rate (a burst every ${calibratedGapUs} us)`);
  line("calibrated", simulate("packet", { ...plan, pacing: { burst: inputs.burst, gapUs: calibratedGapUs } }));
  const calibratedIdles = round(idles);
  if (chunkModelValidity(plan, setup.serverLoss) === null) {
    log(`${name}: chunk model`);
    line("chunk", simulate("chunk", plan));
  }
  return { rows, calibratedGapUs, calibratedIdles };
}

/**
 * The real runs of a setup, clients launched at the pattern's offsets. A run whose clients'
 * sockets dropped datagrams (loss nobody injected: a client not scheduled in time) is run again,
 * up to `retries` times; the last is kept, and its drops are reported.
 */
async function realRuns(o: FidelityOptions, img: FidelityImage, setup: FidelitySetup, pacing: { burstPackets: number; burstGapUs: number }): Promise<(RealMeasures & { attempts: number })[]> {
  const name = setupName(setup);
  const offsetsMs = startTimes(parseStartPattern(setup.start) as StartPattern, setup.clients, 0, createRng(o.seed).fork("starts")).map((us) => us / 1000);
  const reals: (RealMeasures & { attempts: number })[] = [];
  for (let r = 0; r < o.realRuns; r++) {
    for (let attempt = 1; ; attempt++) {
      o.log(`${name}: real${o.realRuns > 1 ? ` run ${r + 1}` : ""}${attempt > 1 ? `, attempt ${attempt}` : ""}`);
      const m = await runRealSetup(img, { clients: setup.clients, startOffsetsMs: offsetsMs, sendDrop: setup.serverLoss, seed: o.seed + r }, { port: o.port, burst: pacing.burstPackets, gapUs: pacing.burstGapUs });
      const dropped = (m.socketDrops ?? 0) > 0;
      if (dropped) o.log(`${name}: the clients' sockets dropped ${m.socketDrops} datagrams nobody injected (load ${m.load1.toFixed(1)})${attempt <= o.retries ? "; running it again" : "; kept, flagged"}`);
      if (!dropped || attempt > o.retries) {
        reals.push({ ...m, attempts: attempt });
        break;
      }
    }
  }
  return reals;
}

function runsInfo(reals: readonly (RealMeasures & { attempts: number })[]): Omit<RealRunsInfo, "calibratedIdles"> {
  const sumOrNull = (vs: (number | null)[]): number | null => (vs.some((v) => v === null) ? null : (vs as number[]).reduce((a, b) => a + b, 0));
  return {
    attempts: reals.reduce((a, m) => a + m.attempts, 0),
    startSpreadSec: round(reals.reduce((a, m) => a + Math.max(...m.startOffsetsUs), 0) / reals.length / 1e6),
    socketDrops: sumOrNull(reals.map((m) => m.socketDrops)),
    hostRcvbufErrors: sumOrNull(reals.map((m) => m.hostRcvbufErrors)),
    load1: round(Math.max(...reals.map((m) => m.load1))),
    serverBusySec: round(reals.reduce((a, m) => a + m.serverBusySec, 0) / reals.length),
    clientIdles: round(reals.reduce((a, m) => a + m.clientIdles, 0) / reals.length),
  };
}

/**
 * The machine paused the real run: its clients made more idle requests than the calibrated model's
 * by more than one per client. A server not scheduled for 90 ms starves every client at once, and
 * their idle requests (which ignore suppression) make it send again what was on its way: resends
 * and partial requests no model of an unpaused machine makes.
 */
export function machinePaused(info: Pick<RealRunsInfo, "clientIdles" | "calibratedIdles">, clients: number): boolean {
  return info.clientIdles > info.calibratedIdles + clients;
}

/** Per model, its compared figures and how many agree. */
export function tally(rows: readonly FidelityRow[]): Partial<Record<FidelityModel, { agree: number; of: number }>> {
  const out: Partial<Record<FidelityModel, { agree: number; of: number }>> = {};
  for (const row of rows) {
    if (row.agrees === null) continue;
    const t = (out[row.model] ??= { agree: 0, of: 0 });
    t.of++;
    if (row.agrees) t.agree++;
  }
  return out;
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
function planOptions(img: ModelInputs, pacing: { burstPackets: number; burstGapUs: number }, start: StartPattern, s: FidelitySetup): FrisbeePlanOptions {
  const inflateMiBs = img.inflateMiBs;
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

/** One seed of a model on a setup; `idles` hears the packet model's clients' idle requests. */
function simMeasures(model: "packet" | "chunk", o: FrisbeePlanOptions, s: FidelitySetup, imageBlocks: number, idles: (n: number) => void): Measures {
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
  idles(f.clients.reduce((a, l) => a + l.client.counters.idles, 0));
  const server = (f.servers[0] as (typeof f.servers)[number]).server;
  const st = server.stats;
  return measures(runtimes, st.blocksSent, st.requests, st.prequests, server.busyUsNow() / 1e6, imageBlocks);
}
