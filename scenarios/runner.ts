import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { SimEvent } from "../sim/world.js";
import { buildWorld, type BuiltWorld } from "./build.js";
import { frisbeeStats, type FrisbeeStats } from "../sim/frisbee/stats.js";
import { checkInvariants, INVARIANT_NAMES, type InvariantResult } from "./invariants.js";
import { ScenarioError } from "./reader.js";
import { parseScenario, type Scenario } from "./schema.js";

export interface RunOptions {
  seed: number;
  /** Called with the fraction of simulated time done, a hundred times over the run. */
  onProgress?: (fraction: number) => void;
}

export interface SimResult {
  seed: number;
  scenario: string;
  name: string;
  traceHash: string;
  events: number;
  simSeconds: number;
  wallSeconds: number;
  eventsPerSec: number;
  ok: boolean;
  invariants: InvariantResult[];
  stats: Record<string, number>;
  eventCounts: Record<string, number>;
  /** Imaging figures, when the scenario runs Frisbee. */
  frisbee?: FrisbeeStats;
  /** The command that replays this run exactly. */
  replay: string;
}

export interface SimRun {
  result: SimResult;
  /** The structured events the world kept (bounded), for the store. */
  events: readonly SimEvent[];
}

const PROGRESS_STEPS = 100;

export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : `cannot read (${code})`;
    throw new ScenarioError(`${path}: ${why}`);
  }
  return parseScenario(text, path, INVARIANT_NAMES);
}

export function runScenario(scenario: Scenario, options: RunOptions): SimRun {
  return runSteps(scenarioSteps(scenario, options.seed), options.onProgress);
}

/** Engine events between two points where a run in steps may pause (some ms of work). */
export const PAUSE_EVENTS = 20_000;

/**
 * A computation in steps: it yields null where its caller may pause (let an event loop turn), or
 * the fraction done, and returns its result. The result is the same however long the caller pauses.
 */
export type Steps<T> = Generator<number | null, T, void>;

/** Runs steps to the end at once, passing each fraction done to onProgress. */
export function runSteps<T>(steps: Steps<T>, onProgress?: (fraction: number) => void): T {
  for (;;) {
    const next = steps.next();
    if (next.done === true) return next.value;
    if (next.value !== null) onProgress?.(next.value);
  }
}

/**
 * runScenario in steps (see Steps): the fraction of simulated time done a hundred times over the
 * run, and a pause point every PAUSE_EVENTS events. The engine runs the same events in the same
 * order however it is cut, so the run and its fingerprint are runScenario's; wallSeconds includes
 * the caller's pauses.
 */
export function* scenarioSteps(scenario: Scenario, seed: number): Steps<SimRun> {
  const started = performance.now();
  const built = buildWorld(scenario, seed);
  const { engine } = built.world;
  for (let step = 1; step <= PROGRESS_STEPS; step++) {
    const untilUs = Math.round((scenario.durationUs * step) / PROGRESS_STEPS);
    while (engine.run({ untilUs, eventsMax: PAUSE_EVENTS }) === "eventsMax") yield null;
    yield step / PROGRESS_STEPS;
  }
  const invariants = checkInvariants(scenario, built);
  const wallSeconds = (performance.now() - started) / 1000;
  const result: SimResult = {
    seed,
    scenario: scenario.file,
    name: scenario.name,
    traceHash: engine.trace.hex(),
    events: engine.executed,
    simSeconds: scenario.durationUs / 1e6,
    wallSeconds: round(wallSeconds, 3),
    eventsPerSec: Math.round(engine.executed / Math.max(wallSeconds, 1e-9)),
    ok: invariants.every((i) => i.ok),
    invariants,
    stats: collectStats(built),
    eventCounts: Object.fromEntries(built.world.eventCounts),
    ...(built.frisbee === null ? {} : { frisbee: frisbeeStats(built.frisbee) }),
    replay: replayCommand(scenario.file, seed),
  };
  return { result, events: built.world.events };
}

export function replayCommand(file: string, seed: number): string {
  const quoted = /^[A-Za-z0-9_./-]+$/.test(file) ? file : `'${file.replace(/'/g, "'\\''")}'`;
  return `testbed sim ${quoted} --seed ${seed}`;
}

/** The run's counters as a SimResult reports them (exported for tests that build their worlds themselves). */
export function collectStats(built: BuiltWorld): Record<string, number> {
  const { network, hosts } = built.world;
  let sinkPackets = 0;
  let sinkLatencyUs = 0;
  for (const { sink } of built.sinks) {
    for (const r of sink.flows.values()) {
      sinkPackets += r.packets;
      sinkLatencyUs += r.latencyUsSum;
    }
  }
  return {
    hosts: hosts.length,
    flows: built.flows.length,
    ...network.stats,
    hostCrashes: hosts.reduce((n, h) => n + h.crashes, 0),
    pausedDrops: hosts.reduce((n, h) => n + h.pausedDrops, 0),
    sinkPackets,
    sinkMeanLatencyUs: sinkPackets === 0 ? 0 : round(sinkLatencyUs / sinkPackets, 1),
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
