import { INVARIANT_NAMES } from "../invariants.js";
import { runScenario } from "../runner.js";
import { parseScenario } from "../schema.js";
import { chunkModelValidity, runChunkModel } from "./chunk-model.js";
import type { FrisbeeStats } from "../../sim/frisbee/stats.js";

export type LossAt = "server" | "receivers";
export type PlanModel = "packet" | "chunk" | "auto";

/**
 * `auto` runs the packet model while a row is cheap enough (clients times image MiB up to this,
 * about a minute of wall time), and the chunk model beyond it where the chunk model is valid.
 */
export const AUTO_PACKET_CLIENT_MIB_MAX = 20_000;

export interface FrisbeePlanOptions {
  clients: number[];
  losses: number[];
  lossAt: LossAt;
  imageMiB: number;
  dataMiB: number;
  clientMbps: number;
  /** Bandwidth target of the server, or burst/gap pacing. */
  pacing: { serverMbps: number } | { burst: number; gapUs: number };
  diskMiBs: number;
  /** Decompression speed in MiB/s of output. */
  inflateMiBs: number;
  start: string;
  heartbeatSec: number;
  seed: number;
  model: PlanModel;
  /**
   * Chunk model only: requests pass the server link's queue, which drops most of a herd of
   * thousands of clients' idle requests, as the packet model's link does. Closer to the packet
   * model beyond a few hundred clients, and slower (see the README).
   */
  serverQueue?: boolean;
}

export interface FrisbeePlanRow extends FrisbeeStats {
  clients: number;
  loss: number;
  model: "packet" | "chunk";
  ok: boolean;
  failedInvariants: string[];
  wallSeconds: number;
  /** The first run's fingerprint. */
  traceHash: string;
  /** Runs behind the row, on seeds seed, seed + 1, ... */
  runs: number;
  /** Where the model is known to stray from the packet model, how (see chunkModelCaveat). */
  caveat?: string;
  /** With several runs: each one's seed, mean runtime, resent share and fingerprint. */
  perRun?: { seed: number; runtimeSecMean: number; duplicateDataPct: number; traceHash: string }[];
}

/** The scenario one row of a plan runs: one server, `clients` clients, the plan's links, disks and loss. */
export function planScenario(o: FrisbeePlanOptions, clients: number, loss: number): object {
  const serverLinkMbps = Math.max(1000, "serverMbps" in o.pacing ? o.pacing.serverMbps * 2 : 1000);
  const lossLinks =
    loss === 0 ? [] : o.lossAt === "receivers" ? [{ hosts: "node*", direction: "down", loss }] : [{ hosts: "server", direction: "both", loss }];
  // Generous: a hundred times the slowest stage's time for the whole image, plus a minute.
  const slowestMiBs = Math.min(o.clientMbps / 8, "serverMbps" in o.pacing ? o.pacing.serverMbps / 8 : 1e9, o.diskMiBs, o.inflateMiBs);
  const durationSec = Math.ceil((100 * o.dataMiB) / slowestMiBs + 60);
  return {
    name: `plan-frisbee-${clients}-${loss}`,
    duration: `${durationSec}s`,
    hosts: [{ name: "server" }, { name: "node", count: clients }],
    network: {
      headerBytes: 28,
      defaults: { bandwidth: `${serverLinkMbps}Mbit`, latency: "50us", queue: "1MiB" },
      links: [{ hosts: "node*", bandwidth: `${o.clientMbps}Mbit`, queue: "512KiB" }, ...lossLinks],
    },
    disks: [{ hosts: "node*", size: `${Math.ceil(o.dataMiB) + 1}MiB`, write: `${o.diskMiBs}MiB/s` }],
    // The CPU model charges inflating by compressed bytes; convert the output rate to an input rate.
    cpus: [{ hosts: "node*", cores: 1, costs: { inflate: `${(o.inflateMiBs * o.imageMiB) / o.dataMiB}MiB/s` } }],
    frisbee: {
      servers: [
        {
          host: "server",
          image: { compressed: `${o.imageMiB}MiB`, uncompressed: `${o.dataMiB}MiB` },
          ...("serverMbps" in o.pacing ? { bandwidth: `${o.pacing.serverMbps}Mbit` } : { burst: o.pacing.burst, gap: `${o.pacing.gapUs}us` }),
          idleExit: "10s",
        },
      ],
      clients: [{ hosts: "node*", start: o.start, heartbeat: `${o.heartbeatSec}s` }],
    },
  };
}

/** What a row's run left for the store. */
export interface PlanRun {
  events: number;
  simSeconds: number;
  wallSeconds: number;
  ok: boolean;
  traceHash: string;
}

/** The model a row runs in; throws with the reason when the chunk model is asked for where it is not valid. */
export function modelFor(o: FrisbeePlanOptions, clients: number, loss: number): "packet" | "chunk" {
  if (o.model === "packet") return "packet";
  const invalid = chunkModelValidity(o, loss);
  if (o.model === "chunk") {
    if (invalid !== null) throw new PlanError(`--model chunk: not valid for this row (${invalid}); use --model packet`);
    return "chunk";
  }
  return invalid === null && clients * o.imageMiB > AUTO_PACKET_CLIENT_MIB_MAX ? "chunk" : "packet";
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlanError";
  }
}

/**
 * Runs one row `runs` times, on seeds o.seed, o.seed + 1, ... With thousands of clients a
 * plan's runtime can differ between seeds by a quarter, so one seed may mislead. The row's mean
 * runtime is over every finished client of every run, min and max over all of them, `finished`
 * the fewest of any run, and the other figures the runs' means.
 */
export function planRowRuns(
  o: FrisbeePlanOptions,
  clients: number,
  loss: number,
  runs: number,
  onProgress?: (f: number) => void,
): { row: FrisbeePlanRow; runs: { seed: number; run: PlanRun }[] } {
  const done: { seed: number; row: FrisbeePlanRow; run: PlanRun }[] = [];
  for (let r = 0; r < runs; r++) {
    const seed = o.seed + r;
    const { row, run } = planRow({ ...o, seed }, clients, loss, onProgress === undefined ? undefined : (f) => onProgress((r + f) / runs));
    done.push({ seed, row, run });
  }
  const first = (done[0] as { row: FrisbeePlanRow }).row;
  if (runs === 1) return { row: first, runs: done };
  const rows = done.map((d) => d.row);
  const mean = (pick: (r: FrisbeePlanRow) => number): number => round(rows.reduce((sum, r) => sum + pick(r), 0) / rows.length);
  const finishedAll = rows.reduce((sum, r) => sum + r.finished, 0);
  const row: FrisbeePlanRow = {
    ...first,
    finished: Math.min(...rows.map((r) => r.finished)),
    runtimeSecMean: finishedAll === 0 ? 0 : round(rows.reduce((sum, r) => sum + r.runtimeSecMean * r.finished, 0) / finishedAll),
    runtimeSecMin: Math.min(...rows.map((r) => r.runtimeSecMin)),
    runtimeSecMax: Math.max(...rows.map((r) => r.runtimeSecMax)),
    duplicateDataPct: mean((r) => r.duplicateDataPct),
    clientDuplicatePct: mean((r) => r.clientDuplicatePct),
    serverMbps: mean((r) => r.serverMbps),
    serverCtrlMsgsPerSec: mean((r) => r.serverCtrlMsgsPerSec),
    heartbeatsReceived: mean((r) => r.heartbeatsReceived),
    heartbeatsLost: mean((r) => r.heartbeatsLost),
    ok: rows.every((r) => r.ok),
    failedInvariants: done.flatMap((d) => d.row.failedInvariants.map((f) => `seed ${d.seed}: ${f}`)),
    wallSeconds: round(rows.reduce((sum, r) => sum + r.wallSeconds, 0)),
    runs,
    perRun: done.map((d) => ({ seed: d.seed, runtimeSecMean: d.row.runtimeSecMean, duplicateDataPct: d.row.duplicateDataPct, traceHash: d.row.traceHash })),
  };
  return { row, runs: done };
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

/** Runs one row in the model `modelFor` picks. */
export function planRow(o: FrisbeePlanOptions, clients: number, loss: number, onProgress?: (f: number) => void): { row: FrisbeePlanRow; run: PlanRun } {
  return modelFor(o, clients, loss) === "chunk" ? chunkRow(o, clients, loss, onProgress) : packetRow(o, clients, loss, onProgress);
}

function chunkRow(o: FrisbeePlanOptions, clients: number, loss: number, onProgress?: (f: number) => void): { row: FrisbeePlanRow; run: PlanRun } {
  const started = performance.now();
  const r = runChunkModel(o, clients, loss, onProgress);
  const wallSeconds = Math.round(performance.now() - started) / 1000;
  const failed = r.stats.finished === clients ? [] : [`frisbee-clients-finish: ${clients - r.stats.finished} of ${clients} clients did not finish`];
  const run: PlanRun = { events: r.events, simSeconds: r.simSeconds, wallSeconds, ok: failed.length === 0, traceHash: r.traceHash };
  const caveat = chunkModelCaveat(o, clients, loss);
  return { run, row: { ...r.stats, clients, loss, model: "chunk", ok: run.ok, failedInvariants: failed, wallSeconds, traceHash: r.traceHash, runs: 1, ...(caveat === null ? {} : { caveat }) } };
}

/** Clients beyond which, with loss per receiver, the chunk model was measured running fast. */
export const CHUNK_MODEL_CLIENTS_CHECKED = 300;

/**
 * The chunk model agrees with the packet model up to 100 clients (the fidelity test) and within
 * 2.3% at 300; with loss per receiver it runs fast beyond that (README, "Beyond 100 clients"), so
 * such a row says so.
 */
export function chunkModelCaveat(o: FrisbeePlanOptions, clients: number, loss: number): string | null {
  if (clients <= CHUNK_MODEL_CLIENTS_CHECKED || loss === 0 || o.lossAt !== "receivers") return null;
  return o.serverQueue === true
    ? `beyond ${CHUNK_MODEL_CLIENTS_CHECKED} clients with loss per receiver the chunk model runs fast even with --server-queue (by 4-9% at 1,000 clients, 18% at 3,000)`
    : `beyond ${CHUNK_MODEL_CLIENTS_CHECKED} clients with loss per receiver the chunk model runs fast (by 8-13% at 1,000 clients, 27% at 3,000); --server-queue narrows that`;
}

/** Runs one row in the packet model; the scenario text is validated like any file, so a bad combination fails clearly. */
function packetRow(o: FrisbeePlanOptions, clients: number, loss: number, onProgress?: (f: number) => void): { row: FrisbeePlanRow; run: PlanRun } {
  const scenario = parseScenario(JSON.stringify(planScenario(o, clients, loss)), `plan(clients=${clients}, loss=${loss})`, INVARIANT_NAMES);
  const { result } = runScenario(scenario, { seed: o.seed, ...(onProgress === undefined ? {} : { onProgress }) });
  const stats = result.frisbee as FrisbeeStats;
  return {
    run: result,
    row: {
      ...stats,
      clients,
      loss,
      model: "packet",
      ok: result.ok,
      failedInvariants: result.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`),
      wallSeconds: result.wallSeconds,
      traceHash: result.traceHash,
      runs: 1,
    },
  };
}
