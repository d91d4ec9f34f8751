import { randomInt } from "node:crypto";
import { openStore, type Store } from "../real/store/index.js";
import { loadScenario, type SimResult, type SimRun } from "../scenarios/runner.js";
import { readSweepSpec, scenarioFor } from "../scenarios/sweep/spec.js";
import { showDrawn } from "../scenarios/sweep/vary.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import { progressBar } from "./progress.js";
import { runJob } from "./run-job.js";

export interface SimCommandOptions {
  seed?: number;
  json: boolean;
  checkDeterminism: boolean;
  db: string;
  store: boolean;
  /** Fields drawn from ranges by the seed, as a sweep draws them (`testbed sweep --vary`). */
  vary?: readonly string[];
}

/**
 * `testbed sim`: resolves with the exit code. The scenario and the store are checked first; the
 * run goes to a worker thread, so Ctrl-C stops it at once, storing nothing.
 */
export async function simCommand(file: string, options: SimCommandOptions): Promise<number> {
  const scenario = loadScenario(file);
  // The store is opened and checked before the run, so a bad --db never throws a finished run away.
  // The handler is in place before the store is opened: a signal while it opens finds it and closes it.
  let store: Store | null = null;
  exitCleanlyOnInterrupt(() => (options.store ? "no run stored" : null), { close: () => store?.close() });
  store = options.store ? openStore(options.db) : null;
  try {
    return await simWithStore(file, scenario, store, options);
  } finally {
    store?.close();
  }
}

async function simWithStore(file: string, scenario: ReturnType<typeof loadScenario>, store: Store | null, options: SimCommandOptions): Promise<number> {
  const seed = options.seed ?? scenario.seed ?? randomInt(0, 2 ** 31);
  if (!options.json) console.log(`seed: ${seed}`);
  const varies = [...(options.vary ?? [])];
  // Checked here, so a bad vary is one line before any thread starts; the job draws the same again.
  if (varies.length > 0) {
    const drawn = scenarioFor(readSweepSpec(file, varies, seed), seed).drawn;
    if (!options.json) console.log(`drew: ${drawn.map(showDrawn).join(" ")}`);
  }
  const runOnce = async (label: string): Promise<SimRun> => {
    const bar = progressBar(label);
    try {
      return await runJob("sim", { file, seed, label, varies }, { progress: (f) => bar.update(f) });
    } finally {
      bar.done();
    }
  };
  const run = await runOnce(options.checkDeterminism ? "run 1/2" : "sim");
  const second: SimResult | null = options.checkDeterminism ? (await runOnce("run 2/2")).result : null;
  const result = run.result;
  const deterministic = second === null || (second.traceHash === result.traceHash && second.events === result.events);
  const runId = store === null ? null : storeRun(store, run);
  if (options.json) {
    const determinism = second === null ? undefined : { ok: deterministic, traceHashes: [result.traceHash, second.traceHash] };
    console.log(JSON.stringify({ ...result, ...(determinism ? { determinism } : {}), runId }));
  } else {
    printSummary(result, runId, options.db);
  }
  if (!deterministic && second !== null) {
    console.error(
      `testbed: determinism check FAILED for ${file} seed ${seed}: run 1 trace ${result.traceHash} (${result.events} events), run 2 trace ${second.traceHash} (${second.events} events)`,
    );
    return 1;
  }
  if (!result.ok) {
    for (const inv of result.invariants.filter((i) => !i.ok)) console.error(`testbed: invariant ${inv.name} FAILED: ${inv.detail}`);
    console.error(`replay: ${result.replay}`);
    return 1;
  }
  return 0;
}

function storeRun(store: Store, run: SimRun): number {
  const r = run.result;
  return store.insertRunWithEvents(
    {
      kind: "sim",
      scenario: r.scenario,
      seed: String(r.seed),
      fingerprint: r.traceHash,
      events: r.events,
      simSeconds: r.simSeconds,
      wallSeconds: r.wallSeconds,
      ok: r.ok,
      results: { invariants: r.invariants, stats: r.stats, eventCounts: r.eventCounts },
      createdAt: new Date().toISOString(),
    },
    run.events.map((e) => ({ timeUs: e.timeUs, host: e.host, kind: e.kind, data: { ...e.fields } })),
  );
}

function printSummary(r: SimResult, runId: number | null, db: string): void {
  console.log(`scenario: ${r.name} (${r.scenario})`);
  console.log(`trace: ${r.traceHash}  events: ${r.events}  simulated: ${r.simSeconds}s  wall: ${r.wallSeconds}s  (${r.eventsPerSec} events/s)`);
  for (const inv of r.invariants) console.log(`  ${inv.ok ? "ok  " : "FAIL"} ${inv.name}${inv.ok ? "" : `: ${inv.detail}`}`);
  const s = r.stats;
  console.log(
    `packets: sent ${s.sent}, delivered ${s.delivered}, lost ${(s.lostUplink ?? 0) + (s.lostDownlink ?? 0)}, queue drops ${(s.queueDropsUplink ?? 0) + (s.queueDropsDownlink ?? 0)}, partition drops ${s.partitionDrops}`,
  );
  if (runId !== null) console.log(`stored as run ${runId} in ${db}`);
}
