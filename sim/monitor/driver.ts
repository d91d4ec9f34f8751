import { performance } from "node:perf_hooks";
import { Engine, type HandlerId } from "../../core/engine/engine.js";
import { createRng, type Rng } from "../../core/engine/rng.js";
import type { Micros } from "../../core/engine/time.js";
import {
  FLAP_START,
  MOVE_RESULT,
  Monitor,
  NO_POOL,
  backoffMaxUs,
  type FlapChange,
  type MonitorConfig,
  type MonitorPort,
  type MoveReason,
  type Outcome,
} from "../../core/monitor/index.js";
import { KIND_DEAD, KIND_FLAKY, KIND_FLAPPING, KIND_NAMES, KIND_STABLE, NEVER, NodeModels, type NodeMix } from "./models.js";
import { Samples, type Summary } from "./samples.js";

export interface MonitorSimOptions {
  readonly nodes: number;
  readonly durationUs: Micros;
  readonly seed: number | string;
  readonly config: MonitorConfig;
  readonly mix: NodeMix;
  /** Spans of simulated time in which the monitor's host is overloaded and the load gate is closed. */
  readonly overloads?: readonly { readonly startUs: Micros; readonly endUs: Micros }[];
}

export interface MonitorSimResult {
  seed: string;
  nodes: number;
  simSeconds: number;
  window: number;
  testsRun: number;
  testsStarted: number;
  timeouts: number;
  maxInFlight: number;
  moves: number;
  /** Good pool to bad pool after a node (or its site) went down: how long after. */
  detectSec: Summary;
  /** Down periods that began in the good pool and were not detected by the end of the run. */
  undetected: number;
  /** Bad pool to good pool after a node came back up: how long after. */
  returnSec: Summary;
  testsOnFlappers: number;
  testsOnFlappersPct: number;
  testsOnFlaky: number;
  testsPerNodeDay: number;
  /** From the time an entry became due to the start of its test: the cost of the window. */
  queueWaitSec: Summary;
  /** The longest scheduled gap between a test's end and the entry's due time, in seconds. */
  maxScheduledGapSec: number;
  /** Invariant counters; each must be zero. */
  windowExceeded: number;
  gapsOverCap: number;
  unprovenReturns: number;
  heldBack: number;
  staleResults: number;
  flapStarts: number;
  poolsAtEnd: Record<string, number>;
  nodeKinds: Record<string, number>;
  events: number;
  traceHash: string;
  wallSeconds: number;
}

const SLICES = 100;

/** Runs the monitor over simulated nodes and measures it; deterministic for a seed. */
export function runMonitorSim(o: MonitorSimOptions, onProgress: (fraction: number) => void = () => {}): MonitorSimResult {
  const started = performance.now();
  const rng = createRng(o.seed);
  const models = new NodeModels(o.nodes, o.durationUs, o.mix, rng.fork("models"));
  const engine = new Engine();
  const driver = new SimDriver(engine, models, o.config, rng);
  for (let n = 0; n < o.nodes; n++) driver.monitor.add(0, n);
  for (const span of o.overloads ?? []) {
    engine.at(span.startUs, driver.gateHandler, 1);
    engine.at(span.endUs, driver.gateHandler, 0);
  }
  driver.afterInput();
  for (let i = 1; i <= SLICES; i++) {
    engine.run({ untilUs: Math.floor((o.durationUs * i) / SLICES) });
    onProgress(i / SLICES);
  }
  return driver.result(o, rng.seed, (performance.now() - started) / 1000);
}

class SimDriver implements MonitorPort {
  readonly monitor: Monitor;
  readonly gateHandler: HandlerId<undefined>;
  private readonly endHandler: HandlerId<undefined>;
  private readonly wakeHandler: HandlerId<undefined>;
  private readonly testRng: Rng;
  private readonly handle: Float64Array;
  private readonly attempt: Uint32Array;
  private readonly passed: Uint8Array;
  private readonly lastEndUs: Float64Array;
  /** Set when an entry starts flapping, cleared when it enters a pool that requires it proven. */
  private readonly flaggedSinceProven: Uint8Array;
  private readonly gapBoundUs: Float64Array;
  private readonly requiresProven: Uint8Array;
  private wakeAtUs = Infinity;
  private readonly detect = new Samples();
  private readonly returned = new Samples();
  private readonly queueWait = new Samples();
  private readonly testsByKind = [0, 0, 0, 0, 0];
  private maxGapUs = 0;
  private gapsOverCap = 0;
  private unprovenReturns = 0;
  private flapStarts = 0;
  private readonly goodPool: number;
  private readonly badPool: number;

  constructor(
    private readonly engine: Engine,
    private readonly models: NodeModels,
    config: MonitorConfig,
    rng: Rng,
  ) {
    this.monitor = new Monitor(config, this, rng.fork("monitor"));
    this.testRng = rng.fork("tests");
    const n = config.entriesMax;
    this.handle = new Float64Array(n).fill(-1);
    this.attempt = new Uint32Array(n);
    this.passed = new Uint8Array(n);
    this.lastEndUs = new Float64Array(n).fill(-1);
    this.flaggedSinceProven = new Uint8Array(n);
    this.gapBoundUs = Float64Array.from(config.pools, (p) =>
      Math.max(backoffMaxUs(p.passBackoff), backoffMaxUs(p.failBackoff), config.entryJitterUs),
    );
    this.requiresProven = Uint8Array.from(config.pools, (p) => (p.requiresProven ? 1 : 0));
    this.goodPool = config.pools.findIndex((p) => p.name === "good");
    this.badPool = config.pools.findIndex((p) => p.name === "bad");
    this.endHandler = engine.register<undefined>("monitor.test-end", (e) => {
      this.handle[e] = -1;
      this.monitor.testDone(engine.now, e, this.attempt[e] as number, this.passed[e] === 1);
      this.afterInput();
    });
    this.wakeHandler = engine.register<undefined>("monitor.wake", () => {
      if (engine.now >= this.wakeAtUs) this.wakeAtUs = Infinity;
      this.afterInput();
    });
    this.gateHandler = engine.register<undefined>("monitor.load-gate", (closed) => {
      this.monitor.setPaused(closed === 1);
      this.afterInput();
    });
  }

  /** After every input: start what can start, and make sure a wake-up is pending for the next thing due. */
  afterInput(): void {
    const now = this.engine.now;
    this.monitor.poll(now);
    const wake = this.monitor.nextWakeUs();
    if (wake < this.wakeAtUs) {
      this.wakeAtUs = wake;
      this.engine.at(Math.max(wake, now), this.wakeHandler);
    }
  }

  startTest(now: Micros, e: number, node: number, pool: number, attempt: number): void {
    const due = this.monitor.dueUsOf(e);
    this.queueWait.add((now - due) / 1e6);
    const lastEnd = this.lastEndUs[e] as number;
    if (lastEnd >= 0) {
      const gap = due - lastEnd;
      if (gap > this.maxGapUs) this.maxGapUs = gap;
      if (gap > (this.gapBoundUs[pool] as number)) this.gapsOverCap++;
    }
    this.attempt[e] = attempt;
    this.models.test(node, now, this.testRng);
    if (this.models.drawnUs === NEVER) return;
    this.passed[e] = this.models.drawnPassed ? 1 : 0;
    this.handle[e] = this.engine.at(now + this.models.drawnUs, this.endHandler, e);
  }

  abortTest(_now: Micros, e: number): void {
    const h = this.handle[e] as number;
    if (h >= 0) this.engine.cancel(h);
    this.handle[e] = -1;
  }

  tested(now: Micros, e: number, node: number, _pool: number, _outcome: Outcome, _durationUs: Micros): void {
    this.lastEndUs[e] = now;
    const k = this.models.kind[node] as number;
    this.testsByKind[k] = (this.testsByKind[k] as number) + 1;
  }

  moved(now: Micros, e: number, node: number, from: number, to: number, reason: MoveReason): void {
    if (reason !== MOVE_RESULT) return;
    if (to !== NO_POOL && this.requiresProven[to] === 1) {
      if (this.flaggedSinceProven[e] === 1 && this.monitor.passStreak(e) < this.monitor.config.flap.passesToReturn) this.unprovenReturns++;
      this.flaggedSinceProven[e] = 0;
    }
    const k = this.models.kind[node];
    if (k !== KIND_STABLE && k !== KIND_DEAD) return;
    if (from === this.goodPool && to === this.badPool) {
      const since = this.models.downSinceUs(node, now - 1);
      if (since >= 0) this.detect.add((now - since) / 1e6);
    } else if (from === this.badPool && to === this.goodPool) {
      const since = this.models.upSinceUs(node, now);
      if (since >= 0) this.returned.add((now - since) / 1e6);
    }
  }

  flapChanged(_now: Micros, e: number, _node: number, change: FlapChange): void {
    if (change === FLAP_START) {
      this.flaggedSinceProven[e] = 1;
      this.flapStarts++;
    }
  }

  result(o: MonitorSimOptions, seed: string, wallSeconds: number): MonitorSimResult {
    const m = this.monitor;
    const testsRun = m.testsFinished;
    const poolsAtEnd: Record<string, number> = {};
    o.config.pools.forEach((p, i) => (poolsAtEnd[p.name] = m.waitingIn(i)));
    poolsAtEnd["testing"] = m.inFlight;
    const nodeKinds: Record<string, number> = {};
    KIND_NAMES.forEach((name, k) => (nodeKinds[name] = this.models.counts[k] as number));
    const flappers = this.testsByKind[KIND_FLAPPING] as number;
    return {
      seed,
      nodes: o.nodes,
      simSeconds: o.durationUs / 1e6,
      window: o.config.window,
      testsRun,
      testsStarted: m.testsStarted,
      timeouts: m.timeouts,
      maxInFlight: m.maxInFlight,
      moves: m.moves,
      detectSec: this.detect.summary(),
      undetected: this.undetected(o.durationUs),
      returnSec: this.returned.summary(),
      testsOnFlappers: flappers,
      testsOnFlappersPct: testsRun === 0 ? 0 : round((flappers * 100) / testsRun, 2),
      testsOnFlaky: this.testsByKind[KIND_FLAKY] as number,
      testsPerNodeDay: round(testsRun / o.nodes / (o.durationUs / 86_400e6), 3),
      queueWaitSec: this.queueWait.summary(),
      maxScheduledGapSec: round(this.maxGapUs / 1e6, 3),
      windowExceeded: m.maxInFlight > o.config.window ? 1 : 0,
      gapsOverCap: this.gapsOverCap,
      unprovenReturns: this.unprovenReturns,
      heldBack: m.heldBack,
      staleResults: m.staleResults,
      flapStarts: this.flapStarts,
      poolsAtEnd,
      nodeKinds,
      events: this.engine.executed,
      traceHash: this.engine.trace.hex(),
      wallSeconds: round(wallSeconds, 3),
    };
  }

  /** Stable or dead nodes down at the end (the sim adds node n as entry n, so entry ids are node ids) of the run and still waiting in the good pool. */
  private undetected(endUs: Micros): number {
    let count = 0;
    for (let n = 0; n < this.models.nodes; n++) {
      const k = this.models.kind[n];
      if ((k === KIND_STABLE || k === KIND_DEAD) && this.models.downSinceUs(n, endUs - 1) >= 0 && this.monitor.poolOf(n) === this.goodPool) count++;
    }
    return count;
  }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
