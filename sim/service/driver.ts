import { performance } from "node:perf_hooks";
import { Engine, type HandlerId } from "../../core/engine/engine.js";
import { createRng, type Rng } from "../../core/engine/rng.js";
import type { Micros } from "../../core/engine/time.js";
import {
  ChecksumRound,
  DEFAULT_WATCHER,
  RESTART_SILENT,
  Rollout,
  Sweep,
  UPDATE_NOTICE_US_MAX,
  UpdateWatcher,
  Watchdog,
  defaultRolloutConfig,
  defaultSweepConfig,
  defaultWatchdogConfig,
  majorityVote,
  unavailableAllowed,
  type RestartReason,
  type RolloutState,
} from "../../core/service/index.js";
import { Samples } from "../monitor/samples.js";
import { FaultPlan } from "./faults.js";
import { FILES_PER_NODE, PROCESSES_PER_NODE, SIM_US, checkServiceSim, type ServiceSimOptions } from "./options.js";
import { PeerPairs, type PairWorld } from "./pairs.js";
import { emptyResult, finishResult, type RolloutRecord, type ServiceSimResult } from "./result.js";

const { SEC, MIN } = SIM_US;
/** Simulated durations of the node-side work (CoDeeN: about 12 s per node with little state). */
const STAGE_US = 5 * SEC;
const INSTALL_US = 2 * SEC;
const HEALTHY_US = 10 * SEC;
const BAD_START_CRASH_US = 3 * SEC;
const SWEEP_RESTART_US = 30 * SEC;
const NET_US = 5_000;
const FETCH_US = 200_000;
const SAMPLE_EVERY_US = 20 * SEC;
const PUSH_LOSS = 0.01;
const ALL_PROCS = (1 << PROCESSES_PER_NODE) - 1;

const CAUSE_CRASH = 0;
const CAUSE_HUNG = 1;
const CAUSE_REBOOT = 2;
const CAUSE_ROLLOUT = 3;
const CAUSE_NAMES = ["crash", "crash-under-hung-watchdog", "reboot", "rollout"] as const;

/** Runs the service mechanism over simulated nodes for days; deterministic for a seed. */
export function runServiceSim(o: ServiceSimOptions, onProgress: (fraction: number) => void = () => {}): ServiceSimResult {
  const problem = checkServiceSim(o);
  if (problem !== null) throw new Error(`service sim: ${problem}`);
  const started = performance.now();
  const sim = new ServiceSim(o);
  const slices = 50;
  for (let i = 1; i <= slices; i++) {
    sim.engine.run({ untilUs: Math.floor((o.durationUs * i) / slices) });
    onProgress(i / slices);
  }
  return sim.finish((performance.now() - started) / 1000);
}

class ServiceSim implements PairWorld {
  readonly engine = new Engine();
  private readonly rng: Rng;
  private readonly n: number;
  private readonly plan: FaultPlan;
  private readonly up: Uint8Array;
  private readonly procs: Uint8Array;
  private readonly hung: Uint8Array;
  private readonly stopped: Uint8Array;
  private readonly partition: Uint8Array;
  private readonly installed: Int32Array;
  private readonly epoch: Uint32Array;
  /** Process exits per node: a health check passes only if none happened since the install. */
  private readonly exits: Uint32Array;
  private readonly downSinceUs: Float64Array;
  private readonly downCause: Uint8Array;
  private readonly aliveSinceUs: Float64Array;
  private readonly lastReportUs: Float64Array;
  private readonly digests: Int32Array;
  private readonly alpha: Uint8Array;
  private readonly badOn: Uint8Array;
  private readonly watchdogs: Watchdog[];
  private readonly watchers: UpdateWatcher[];
  private readonly wakeAtUs: Float64Array;
  private readonly sweep: Sweep;
  private readonly pairs: PeerPairs;
  private readonly wanted = [1, 1];
  private badVersion = -1;
  private lastVersion = 1;
  private generation = 0;
  private readonly pollPhaseUs: Float64Array;
  private readonly reachableAtPublish: Uint8Array;
  private publishedUs = 0;
  private rollout: Rollout | null = null;
  private rolloutTargets: number[] = [];
  private rolloutRecord: RolloutRecord | null = null;
  private rolloutWakeUs = Infinity;
  private rolloutAllowed = 0;
  private rolloutFromVersion = 0;
  private readonly inRollout: Uint8Array;
  private readonly targetIndex: Int32Array;
  private rolloutCaused = 0;
  private readonly rounds: (ChecksumRound | null)[] = [null, null];
  private readonly roundNodes: number[][] = [[], []];
  private readonly faultsEndUs: Micros;
  private readonly r = emptyResult();
  private readonly repair = [new Samples(), new Samples(), new Samples(), new Samples()];
  private readonly notice = new Samples();
  private readonly rolloutSec = new Samples();
  private downUsTotal = 0;
  private readonly h: {
    crash: HandlerId<undefined>;
    procExit: HandlerId<number>;
    wake: HandlerId<undefined>;
    hang: HandlerId<undefined>;
    reboot: HandlerId<undefined>;
    boot: HandlerId<number>;
    partition: HandlerId<number[]>;
    heal: HandlerId<number[]>;
    sweep: HandlerId<undefined>;
    sweepRestart: HandlerId<number>;
    op: HandlerId<OpRef>;
    rolloutWake: HandlerId<undefined>;
    release: HandlerId<undefined>;
    production: HandlerId<boolean>;
    watchPoll: HandlerId<undefined>;
    publish: HandlerId<undefined>;
    notice: HandlerId<undefined>;
    fetched: HandlerId<number>;
    checksum: HandlerId<undefined>;
    answer: HandlerId<number>;
    roundWake: HandlerId<undefined>;
    corrupt: HandlerId<number[]>;
    sample: HandlerId<undefined>;
  };

  constructor(readonly o: ServiceSimOptions) {
    const n = (this.n = o.nodes);
    this.rng = createRng(o.seed);
    this.faultsEndUs = o.durationUs - o.healUs;
    this.plan = new FaultPlan(o, this.rng.fork("faults"), this.faultsEndUs);
    this.up = new Uint8Array(n).fill(1);
    this.procs = new Uint8Array(n);
    this.hung = new Uint8Array(n);
    this.stopped = new Uint8Array(n);
    this.partition = new Uint8Array(n);
    this.installed = new Int32Array(n).fill(1);
    this.epoch = new Uint32Array(n);
    this.exits = new Uint32Array(n);
    this.downSinceUs = new Float64Array(n).fill(-1);
    this.downCause = new Uint8Array(n);
    this.aliveSinceUs = new Float64Array(n);
    this.lastReportUs = new Float64Array(n);
    this.digests = new Int32Array(n * FILES_PER_NODE);
    this.alpha = new Uint8Array(n);
    this.badOn = new Uint8Array(n);
    this.inRollout = new Uint8Array(n);
    this.targetIndex = new Int32Array(n);
    this.pollPhaseUs = new Float64Array(n);
    this.reachableAtPublish = new Uint8Array(n);
    this.wakeAtUs = new Float64Array(n).fill(Infinity);
    const phases = this.rng.fork("poll-phases");
    for (let i = 0; i < n; i++) this.pollPhaseUs[i] = phases.int(DEFAULT_WATCHER.pollEveryUs);
    const alphaCount = Math.max(1, Math.floor(n * o.alphaShare));
    for (let i = 0; i < alphaCount; i++) this.alpha[Math.floor((i * n) / alphaCount)] = 1;
    this.pairs = new PeerPairs(n, o.observers, o.peersPerObserver, this.rng.fork("heartbeats"), o.faults.heartbeatLoss, o.policies.gate);
    this.h = this.registerHandlers();
    const wdRng = this.rng.fork("watchdogs");
    this.watchdogs = Array.from({ length: n }, (_, node) => this.makeWatchdog(node, wdRng));
    this.watchers = Array.from({ length: n }, (_, node) => this.makeWatcher(node));
    this.sweep = new Sweep(defaultSweepConfig(n, { reconcileMax: o.policies.reconcileMax ?? Math.max(1, Math.floor(n / 100)) }), {
      restartNode: (now, node, reason) => this.sweepRestart(now, node, reason),
      reconcile: (now, node, _from, to) => this.reconcile(now, node, to),
    });
    this.boot(0);
  }

  private boot(now: Micros): void {
    for (let node = 0; node < this.n; node++) {
      this.sweep.add(now, node, 1);
      for (let f = 0; f < FILES_PER_NODE; f++) this.digests[node * FILES_PER_NODE + f] = this.goodDigest(1, f);
      this.aliveSinceUs[node] = now;
      this.watchdogs[node]?.startAll(now);
      this.pairs.restartObserver(node, now);
      this.watchers[node]?.start(now);
      this.plan.scheduleNode(this.engine, node, this.h.crash, this.h.hang, this.h.reboot);
    }
    this.sweep.start(now);
    this.engine.at(this.sweep.nextWakeUs(), this.h.sweep);
    this.plan.scheduleGlobal(this.engine, this.h.partition, this.h.heal, this.h.corrupt, this.h.checksum);
    for (let t = this.o.firstReleaseUs; t < this.faultsEndUs - 2 * SIM_US.HOUR; t += this.o.releaseEveryUs) this.engine.at(t, this.h.release);
    for (let t = this.o.stateUpdateEveryUs; t < this.o.durationUs; t += this.o.stateUpdateEveryUs) this.engine.at(t, this.h.publish);
    for (let t = this.o.checksumEveryUs / 2; t < this.o.durationUs; t += this.o.checksumEveryUs) this.engine.at(t, this.h.checksum);
    for (let t = SAMPLE_EVERY_US; t < this.o.durationUs; t += SAMPLE_EVERY_US) this.engine.at(t, this.h.sample);
  }

  // --- the PairWorld the liveness pairs read -------------------------------------------------

  serving(node: number): boolean {
    return this.up[node] === 1 && this.stopped[node] === 0 && this.procs[node] === ALL_PROCS;
  }

  connected(a: number, b: number): boolean {
    return this.partition[a] === this.partition[b];
  }

  protocol(node: number): number {
    return this.installed[node] as number;
  }

  private reachable(node: number): boolean {
    return this.up[node] === 1 && this.partition[node] === 0;
  }

  private goodDigest(version: number, file: number): number {
    return version * 16 + file;
  }

  // --- changes of a node's state, with the bookkeeping every change needs ------------------

  /** Every change to what a node serves goes through here, so availability and pairs stay exact. */
  private change(node: number, cause: number, mutate: () => void): void {
    const now = this.engine.now;
    this.pairs.flushNode(node, now, this);
    const before = this.serving(node);
    const causedBefore = this.rolloutCausedOf(node);
    mutate();
    const after = this.serving(node);
    const causedAfter = this.rolloutCausedOf(node);
    if (causedAfter !== causedBefore) {
      this.rolloutCaused += causedAfter ? 1 : -1;
      if (this.rolloutCaused > this.rolloutAllowed && this.rollout !== null) this.r.invariants.unavailableOverBudget++;
      if (this.rolloutCaused > this.r.rolloutCausedMax) this.r.rolloutCausedMax = this.rolloutCaused;
    }
    if (before && !after) {
      this.downSinceUs[node] = now;
      this.downCause[node] = cause;
    } else if (!before && after) {
      const since = this.downSinceUs[node] as number;
      if (since >= 0) {
        this.downUsTotal += now - since;
        this.repair[this.downCause[node] as number]?.add((now - since) / SEC);
      }
      this.downSinceUs[node] = -1;
      this.pairs.restartObserver(node, now);
    }
    this.tellRollout(node);
  }

  /** Down because of the running rollout: stopped by it, or running a version that fails here after it installed one. */
  private rolloutCausedOf(node: number): boolean {
    if (this.inRollout[node] === 0) return false;
    return this.stopped[node] === 1 || (this.installed[node] === this.badVersion && this.badOn[node] === 1);
  }

  private tellRollout(node: number): void {
    if (this.rollout === null || this.inRollout[node] === 0) return;
    if (this.rollout.setDown(this.targetIndex[node] as number, !this.reachable(node))) this.engine.at(this.engine.now, this.h.rolloutWake);
  }

  private makeWatchdog(node: number, rng: Rng): Watchdog {
    return new Watchdog(defaultWatchdogConfig(PROCESSES_PER_NODE), {
      startProcess: (now, proc) => {
        this.change(node, CAUSE_CRASH, () => (this.procs[node] = (this.procs[node] as number) | (1 << proc)));
        if (this.installed[node] === this.badVersion && this.badOn[node] === 1) this.engine.at(now + BAD_START_CRASH_US, this.h.procExit, node * PROCESSES_PER_NODE + proc, this.epoch[node] as number);
      },
      stopProcess: (_now, proc) => this.change(node, CAUSE_CRASH, () => (this.procs[node] = (this.procs[node] as number) & ~(1 << proc))),
      report: () => {},
      gaveUp: () => this.r.gaveUps++,
    }, rng.fork(`node:${node}`));
  }

  private makeWatcher(node: number): UpdateWatcher {
    return new UpdateWatcher(DEFAULT_WATCHER, {
      poll: (now) => {
        if (this.reachable(node)) this.engine.at(now + 2 * NET_US, this.h.notice, node);
      },
      fetch: (now, generation) => {
        if (this.reachable(node)) this.engine.at(now + FETCH_US, this.h.fetched, node, generation);
      },
    });
  }

  private wakeWatchdog(node: number): void {
    const at = (this.watchdogs[node] as Watchdog).nextRestartUs();
    if (at < (this.wakeAtUs[node] as number)) {
      this.wakeAtUs[node] = at;
      this.engine.at(Math.max(at, this.engine.now), this.h.wake, node);
    }
  }

  private registerHandlers(): ServiceSim["h"] {
    const e = this.engine;
    return {
      crash: e.register<undefined>("service.crash", (node) => this.onCrash(node)),
      procExit: e.register<number>("service.proc-exit", (arg, epoch) => this.onProcExit(arg, epoch)),
      wake: e.register<undefined>("service.wake", (node) => this.onWake(node)),
      hang: e.register<undefined>("service.hang", (node) => this.onHang(node)),
      reboot: e.register<undefined>("service.reboot", (node) => this.onReboot(node)),
      boot: e.register<number>("service.boot", (node, epoch) => this.onBoot(node, epoch)),
      partition: e.register<number[]>("service.partition", (id, nodes) => this.onPartition(id, nodes)),
      heal: e.register<number[]>("service.heal", (_id, nodes) => this.onPartition(0, nodes)),
      sweep: e.register<undefined>("service.sweep", () => this.onSweep()),
      sweepRestart: e.register<number>("service.sweep-restart", (node, epoch) => this.onSweepRestart(node, epoch)),
      op: e.register<OpRef>("service.op", (_arg, ref) => this.onOp(ref)),
      rolloutWake: e.register<undefined>("service.rollout-wake", () => this.onRolloutWake()),
      release: e.register<undefined>("service.release", () => this.onRelease()),
      production: e.register<boolean>("service.production", (version, bad) => this.onProduction(version, bad)),
      watchPoll: e.register<undefined>("service.watch-poll", (node) => this.onWatchPoll(node)),
      publish: e.register<undefined>("service.publish", () => this.onPublish()),
      notice: e.register<undefined>("service.notice", (node) => this.onNotice(node)),
      fetched: e.register<number>("service.fetched", (node, generation) => this.onFetched(node, generation)),
      checksum: e.register<undefined>("service.checksum", () => this.onChecksum()),
      answer: e.register<number>("service.answer", (node, epoch) => this.onAnswer(node, epoch)),
      roundWake: e.register<undefined>("service.round-wake", () => this.rounds.forEach((r) => r?.poll(this.engine.now))),
      corrupt: e.register<number[]>("service.corrupt", (tag, nodes) => this.onCorrupt(tag, nodes)),
      sample: e.register<undefined>("service.sample", () => this.pairs.sample(this.engine.now, this)),
    };
  }

  // --- node faults ----------------------------------------------------------------------------

  private onCrash(node: number): void {
    const now = this.engine.now;
    this.plan.nextCrash(this.engine, node, this.h.crash);
    if (this.up[node] === 0 || this.stopped[node] === 1) return;
    const proc = this.plan.rngOf(node).int(PROCESSES_PER_NODE);
    if (((this.procs[node] as number) & (1 << proc)) === 0) return;
    this.r.crashes++;
    this.exits[node] = (this.exits[node] as number) + 1;
    this.change(node, this.hung[node] === 1 ? CAUSE_HUNG : CAUSE_CRASH, () => (this.procs[node] = (this.procs[node] as number) & ~(1 << proc)));
    if (this.hung[node] === 1) return;
    (this.watchdogs[node] as Watchdog).exited(now, proc);
    this.wakeWatchdog(node);
  }

  private onProcExit(arg: number, epoch: number): void {
    const node = Math.floor(arg / PROCESSES_PER_NODE);
    const proc = arg % PROCESSES_PER_NODE;
    if (this.epoch[node] !== epoch || this.up[node] === 0 || ((this.procs[node] as number) & (1 << proc)) === 0) return;
    this.exits[node] = (this.exits[node] as number) + 1;
    this.change(node, CAUSE_ROLLOUT, () => (this.procs[node] = (this.procs[node] as number) & ~(1 << proc)));
    if (this.hung[node] === 1) return;
    (this.watchdogs[node] as Watchdog).exited(this.engine.now, proc);
    this.wakeWatchdog(node);
  }

  private onWake(node: number): void {
    const now = this.engine.now;
    if (now >= (this.wakeAtUs[node] as number)) this.wakeAtUs[node] = Infinity;
    // A node that is down, stopped for an update or whose watchdog hangs restarts nothing; its
    // watchdog is woken again when it starts afresh.
    if (this.up[node] === 0 || this.hung[node] === 1 || this.stopped[node] === 1) return;
    (this.watchdogs[node] as Watchdog).poll(now);
    this.wakeWatchdog(node);
  }

  private onHang(node: number): void {
    this.plan.nextHang(this.engine, node, this.h.hang);
    if (this.up[node] === 0 || this.hung[node] === 1) return;
    this.r.hangs++;
    this.silence(node);
    this.hung[node] = 1;
  }

  private onReboot(node: number): void {
    const now = this.engine.now;
    this.plan.nextReboot(this.engine, node, this.h.reboot);
    if (this.up[node] === 0) return;
    this.r.reboots++;
    this.silence(node);
    this.change(node, CAUSE_REBOOT, () => {
      this.up[node] = 0;
      this.procs[node] = 0;
      this.stopped[node] = 0;
    });
    this.epoch[node] = (this.epoch[node] as number) + 1;
    this.engine.at(now + this.plan.rebootDownUs(node), this.h.boot, node, this.epoch[node] as number);
  }

  private onBoot(node: number, epoch: number): void {
    if (this.epoch[node] !== epoch) return;
    const now = this.engine.now;
    this.change(node, CAUSE_REBOOT, () => (this.up[node] = 1));
    this.restartEverything(node, now);
  }

  /** The watchdog (re)starts with every process: boot, or the sweep's restart. */
  private restartEverything(node: number, now: Micros): void {
    this.hung[node] = 0;
    this.epoch[node] = (this.epoch[node] as number) + 1;
    this.change(node, CAUSE_CRASH, () => {
      this.procs[node] = 0;
      this.stopped[node] = 0;
    });
    (this.watchdogs[node] as Watchdog).startAll(now);
    if (this.partition[node] === 0) this.aliveSinceUs[node] = now;
    (this.watchers[node] as UpdateWatcher).start(now);
    this.wakeWatchdog(node);
  }

  private onPartition(id: number, nodes: number[]): void {
    const now = this.engine.now;
    if (id !== 0) this.r.partitions++;
    for (const node of nodes) {
      if (id !== 0) this.silence(node);
      this.change(node, CAUSE_CRASH, () => (this.partition[node] = id));
      if (id === 0 && this.up[node] === 1 && this.hung[node] === 0) {
        this.aliveSinceUs[node] = now;
        (this.watchers[node] as UpdateWatcher).start(now);
        this.wakeWatchdog(node);
      }
    }
  }

  /** The node's watchdog stops reaching the controller: its last report is the last one it made. */
  private silence(node: number): void {
    const since = this.aliveSinceUs[node] as number;
    if (since < 0) return;
    this.lastReportUs[node] = this.lastReportAt(node, this.engine.now);
    this.aliveSinceUs[node] = -1;
  }

  /** Watchdogs report at once when they start, then every reportEvery; this is the latest such time. */
  private lastReportAt(node: number, now: Micros): Micros {
    const since = this.aliveSinceUs[node] as number;
    if (since < 0) return this.lastReportUs[node] as number;
    const every = (this.watchdogs[node] as Watchdog).config.reportEveryUs;
    return since + Math.floor((now - since) / every) * every;
  }

  // --- the central sweep -------------------------------------------------------------------

  private onSweep(): void {
    const now = this.engine.now;
    for (let node = 0; node < this.n; node++) {
      if ((this.aliveSinceUs[node] as number) < 0) continue;
      const w = this.watchdogs[node] as Watchdog;
      this.sweep.reported(this.lastReportAt(node, now), node, w.summary().gaveUp > 0, this.installed[node] as number);
    }
    this.sweep.rolloutActive = this.rollout !== null;
    this.sweep.poll(now);
    this.engine.at(this.sweep.nextWakeUs(), this.h.sweep);
  }

  private sweepRestart(now: Micros, node: number, reason: RestartReason): void {
    if (reason === RESTART_SILENT) this.r.sweepRestartsSilent++;
    else this.r.sweepRestartsGaveUp++;
    if (this.reachable(node)) this.engine.at(now + SWEEP_RESTART_US, this.h.sweepRestart, node, this.epoch[node] as number);
  }

  private onSweepRestart(node: number, epoch: number): void {
    if (this.epoch[node] !== epoch || !this.reachable(node)) return;
    this.restartEverything(node, this.engine.now);
  }

  private reconcile(now: Micros, node: number, to: number): void {
    this.r.reconciles++;
    if (this.reachable(node)) this.startApply(now, node, to, true, -1, -1);
  }

  // --- rollouts ------------------------------------------------------------------------------

  private onRelease(): void {
    const now = this.engine.now;
    if (this.rollout !== null) {
      this.r.releasesSkipped++;
      return;
    }
    const version = ++this.lastVersion;
    this.r.releases++;
    const bad = this.o.badReleaseEvery > 0 && this.r.releases % this.o.badReleaseEvery === 0;
    if (bad) {
      // Alternately a release that fails on some alpha and production nodes alike (the canary
      // catches it) and one that works on alpha but fails on production nodes only.
      const productionOnly = (this.r.releases / this.o.badReleaseEvery) % 2 === 0;
      this.badVersion = version;
      const rng = this.rng.fork(`bad:${version}`);
      for (let node = 0; node < this.n; node++) this.badOn[node] = (!productionOnly || this.alpha[node] === 0) && rng.chance(this.o.faults.badReleaseShare) ? 1 : 0;
    }
    this.startRollout(now, 1, version, bad);
  }

  private onProduction(version: number, bad: boolean): void {
    if (this.rollout !== null) {
      this.r.releasesSkipped++;
      return;
    }
    this.startRollout(this.engine.now, 0, version, bad);
  }

  private startRollout(now: Micros, set: number, version: number, bad: boolean): void {
    const targets: number[] = [];
    for (let node = 0; node < this.n; node++) if ((this.alpha[node] === 1) === (set === 1)) targets.push(node);
    const from = this.wanted[set === 1 ? 1 : 0] as number;
    const base = defaultRolloutConfig(targets.length, {
      batches: [1, `${this.o.batchPct}%`],
      maxParallel: this.o.maxParallel,
      maxFailPct: this.o.maxFailPct,
      maxFailTotal: Math.max(1, Math.floor((targets.length * this.o.maxFailPct) / 100)),
      maxUnavailable: unavailableAllowed(targets.length, this.o.maxUnavailablePct),
      opTimeoutUs: 2 * MIN,
    });
    this.rolloutAllowed = base.maxUnavailable;
    const config = this.o.policies.rolloutConfig?.(base) ?? base;
    this.rolloutTargets = targets;
    this.rolloutFromVersion = from;
    this.rolloutCaused = 0;
    targets.forEach((node, i) => {
      this.inRollout[node] = 1;
      this.targetIndex[node] = i;
    });
    this.rolloutRecord = { set: set === 1 ? "alpha" : "production", from, to: version, bad, targets: targets.length, startSec: now / SEC, seconds: 0, state: "staging", reason: "", batches: 0, maxUnavailableSeen: 0, allowedUnavailable: base.maxUnavailable };
    this.sweep.rolloutActive = true;
    const rollout = new Rollout(config, {
      stage: (t, i, op) => this.sendStage(t, targets[i] as number, i, op),
      apply: (t, i, toNew, op) => this.startApply(t, targets[i] as number, toNew ? version : from, true, i, op),
      stateChanged: (t, state, reason) => this.rolloutChanged(t, state, reason),
      batchStarted: () => (this.rolloutRecord as RolloutRecord).batches++,
      batchSettled: () => {},
    }, this.rng.fork(`rollout:${this.r.rollouts.length}`));
    this.rollout = rollout;
    targets.forEach((node, i) => rollout.setDown(i, !this.reachable(node)));
    rollout.start(now);
    this.scheduleRolloutWake();
  }

  private rolloutChanged(now: Micros, state: RolloutState, reason: string): void {
    const rec = this.rolloutRecord as RolloutRecord;
    rec.state = state;
    if (reason !== "") rec.reason = reason;
    if (state !== "done" && state !== "rolled-back" && state !== "rollback-incomplete") return;
    rec.seconds = now / SEC - rec.startSec;
    rec.maxUnavailableSeen = this.r.rolloutCausedMax;
    this.rolloutSec.add(rec.seconds);
    this.r.rollouts.push(rec);
    const set = rec.set === "alpha" ? 1 : 0;
    const final = state === "done" ? rec.to : rec.from;
    this.wanted[set] = final;
    for (const node of this.rolloutTargets) {
      this.inRollout[node] = 0;
      this.sweep.setWanted(node, final);
    }
    this.r.rolloutCausedMax = 0;
    this.rolloutCaused = 0;
    // The rollout object finishes its current input before it is dropped.
    this.engine.at(now, this.h.rolloutWake);
    this.rollout = null;
    if (set === 1 && state === "done") this.engine.at(now + SIM_US.HOUR, this.h.production, rec.to, rec.bad);
    else if (set === 1) this.r.stoppedAtAlpha++;
  }

  private sendStage(now: Micros, node: number, i: number, op: number): void {
    if (this.reachable(node)) this.engine.at(now + STAGE_US + this.plan.jitterUs(), this.h.op, 0, { kind: "staged", node, i, op, version: 0, epoch: this.epoch[node] as number, rollout: this.rollout });
  }

  /** Stop, put the version's files in place, restart; answer after the health wait. i < 0: a reconcile, not a rollout's. */
  private startApply(now: Micros, node: number, version: number, restart: boolean, i: number, op: number): void {
    const lies = i >= 0 && version === this.rolloutFromVersion && this.o.policies.rollbackLies === true;
    if (!this.reachable(node) || lies) {
      if (lies) this.engine.at(now + NET_US, this.h.op, 0, { kind: "applied", node, i, op, version, epoch: this.epoch[node] as number, rollout: this.rollout, ok: true });
      return;
    }
    if (restart) {
      this.change(node, CAUSE_ROLLOUT, () => (this.stopped[node] = 1));
      (this.watchdogs[node] as Watchdog).stopAll(now);
      this.change(node, CAUSE_ROLLOUT, () => (this.procs[node] = 0));
    }
    this.engine.at(now + INSTALL_US + this.plan.jitterUs(), this.h.op, 0, { kind: "installed", node, i, op, version, epoch: this.epoch[node] as number, rollout: this.rollout });
  }

  private onOp(ref: OpRef): void {
    const now = this.engine.now;
    const { node } = ref;
    const sameLife = this.epoch[node] === ref.epoch && this.up[node] === 1;
    if (ref.kind === "installed") {
      if (!sameLife) return;
      this.change(node, CAUSE_ROLLOUT, () => {
        this.installed[node] = ref.version;
        for (let f = 0; f < FILES_PER_NODE; f++) this.digests[node * FILES_PER_NODE + f] = this.goodDigest(ref.version, f);
      });
      this.restartEverything(node, now);
      this.engine.at(now + HEALTHY_US, this.h.op, 0, { ...ref, kind: "verify", epoch: this.epoch[node] as number, exits: this.exits[node] as number });
      return;
    }
    if (ref.kind === "verify") {
      // Healthy: running the version for the whole wait without a process exiting (Nomad's min_healthy_time).
      const ok = sameLife && this.serving(node) && this.installed[node] === ref.version && this.exits[node] === ref.exits;
      if (ref.i >= 0 && this.reachable(node)) this.engine.at(now + NET_US, this.h.op, 0, { ...ref, kind: "applied", ok });
      return;
    }
    if (ref.rollout !== this.rollout || this.rollout === null) return;
    if (ref.kind === "staged") this.rollout.staged(now, ref.i, ref.op, sameLife);
    else this.rollout.applied(now, ref.i, ref.op, ref.ok === true);
    this.scheduleRolloutWake();
  }

  private onRolloutWake(): void {
    const now = this.engine.now;
    if (now >= this.rolloutWakeUs) this.rolloutWakeUs = Infinity;
    if (this.rollout === null) return;
    this.rollout.poll(now);
    this.scheduleRolloutWake();
  }

  private scheduleRolloutWake(): void {
    if (this.rollout === null) return;
    const at = this.rollout.nextWakeUs();
    if (at < this.rolloutWakeUs) {
      this.rolloutWakeUs = at;
      this.engine.at(Math.max(at, this.engine.now), this.h.rolloutWake);
    }
  }

  // --- restart-less state updates ------------------------------------------------------------

  /**
   * A new generation: pushed to every reachable node (1% of pushes lost). A node whose push is lost
   * learns from its own poll (every 2 s, at its own phase); a node unreachable now asks when it is
   * back (its watcher restarts on boot and heal). Only polls that can learn something are simulated.
   */
  private onPublish(): void {
    const now = this.engine.now;
    this.generation++;
    this.publishedUs = now;
    const every = DEFAULT_WATCHER.pollEveryUs;
    for (let node = 0; node < this.n; node++) {
      this.reachableAtPublish[node] = this.reachable(node) ? 1 : 0;
      if (!this.reachable(node)) continue;
      this.r.noticesExpected++;
      if (!this.plan.rngOf(node).chance(PUSH_LOSS)) this.engine.at(now + NET_US, this.h.notice, node);
      else {
        const phase = this.pollPhaseUs[node] as number;
        this.engine.at(now + ((((phase - now) % every) + every) % every), this.h.watchPoll, node);
      }
    }
  }

  private onWatchPoll(node: number): void {
    if (this.reachable(node)) (this.watchers[node] as UpdateWatcher).poll(this.engine.now);
  }

  private onNotice(node: number): void {
    if (!this.reachable(node)) return;
    (this.watchers[node] as UpdateWatcher).notified(this.engine.now, this.generation);
  }

  private onFetched(node: number, generation: number): void {
    const now = this.engine.now;
    const w = this.watchers[node] as UpdateWatcher;
    const before = w.held;
    w.fetched(now, generation, this.up[node] === 1);
    if (w.held > before && generation === this.generation) {
      const latency = now - this.publishedUs;
      this.notice.add(latency / SEC);
      if (this.reachableAtPublish[node] === 1) {
        this.r.noticesReachable++;
        if (latency <= UPDATE_NOTICE_US_MAX) this.r.noticesWithin3s++;
      }
    }
  }

  // --- quorum checksums ----------------------------------------------------------------------

  private onChecksum(): void {
    const now = this.engine.now;
    if (this.rollout !== null || this.rounds.some((r) => r !== null && !r.done)) {
      this.r.checksumRoundsSkipped++;
      return;
    }
    this.r.checksumRounds++;
    // One vote per node set and file: the sets run different tarballs (and versions).
    for (const set of [0, 1]) {
      const nodes: number[] = [];
      for (let node = 0; node < this.n; node++) if (this.alpha[node] === set) nodes.push(node);
      this.runRound(now, set, nodes);
    }
    this.engine.at(now + MIN, this.h.roundWake);
  }

  private runRound(now: Micros, set: number, nodes: number[]): void {
    this.roundNodes[set] = nodes;
    const vote = this.o.policies.vote ?? majorityVote;
    const round = new ChecksumRound(nodes.map((_, i) => i), FILES_PER_NODE, { answerDeadlineUs: MIN, filesMax: FILES_PER_NODE }, {
      ask: (t, i) => {
        const node = nodes[i] as number;
        if (this.reachable(node)) this.engine.at(t + SEC, this.h.answer, set * this.n + i, this.epoch[node] as number);
      },
      decided: (_t, file, verdict) => {
        if (verdict.decided === null) {
          this.r.checksumNoQuorum++;
          return;
        }
        this.r.checksumDecisions++;
        let holders = 0;
        for (const node of nodes) if (String(this.digests[node * FILES_PER_NODE + file]) === verdict.decided) holders++;
        if (holders * 2 <= nodes.length) this.r.invariants.minorityOverruled++;
        this.r.checksumMinority += verdict.minority.length;
      },
      repair: (t, i, file, source) => this.repairFile(t, nodes[i] as number, file, nodes[source] as number),
    }, vote);
    this.rounds[set] = round;
    round.start(now);
  }

  private onAnswer(arg: number, epoch: number): void {
    const set = Math.floor(arg / this.n);
    const i = arg % this.n;
    const node = (this.roundNodes[set] as number[])[i] as number;
    const round = this.rounds[set];
    if (round === null || round === undefined || this.epoch[node] !== epoch || !this.reachable(node)) return;
    const digests = Array.from({ length: FILES_PER_NODE }, (_, f) => String(this.digests[node * FILES_PER_NODE + f]));
    round.answered(this.engine.now, i, digests);
  }

  private repairFile(_now: Micros, node: number, file: number, source: number): void {
    this.r.repairs++;
    if (!this.reachable(node)) return;
    this.digests[node * FILES_PER_NODE + file] = this.digests[source * FILES_PER_NODE + file] as number;
    // A copy of the majority's versioned files brings the node to the majority's version.
    const version = Math.floor((this.digests[source * FILES_PER_NODE + file] as number) / 16);
    if (version !== this.installed[node] && version > 0) this.startApply(this.engine.now, node, version, true, -1, -1);
  }

  private onCorrupt(tag: number, nodes: number[]): void {
    const file = tag % FILES_PER_NODE;
    for (const node of nodes) {
      this.r.corruptions++;
      this.digests[node * FILES_PER_NODE + file] = -tag;
    }
  }

  // --- the end ----------------------------------------------------------------------------------

  finish(wallSeconds: number): ServiceSimResult {
    const end = this.o.durationUs;
    for (let node = 0; node < this.n; node++) {
      const since = this.downSinceUs[node] as number;
      if (since >= 0) this.downUsTotal += end - since;
      const set = this.alpha[node] === 1 ? 1 : 0;
      if (this.installed[node] !== this.wanted[set]) this.r.invariants.offVersionAtEnd++;
    }
    if (this.rollout !== null) this.r.invariants.rolloutUnfinished++;
    this.r.invariants.crossVersionAccepted = this.pairs.crossVersionAccepted;
    return finishResult(this.r, {
      o: this.o,
      wallSeconds,
      events: this.engine.executed,
      traceHash: this.engine.trace.hex(),
      availability: 1 - this.downUsTotal / (this.n * end),
      repair: Object.fromEntries(CAUSE_NAMES.map((name, i) => [name, (this.repair[i] as Samples).summary()])),
      notice: this.notice.summary(2),
      rolloutSec: this.rolloutSec.summary(),
      pairs: this.pairs,
      wanted: { alpha: this.wanted[1] as number, production: this.wanted[0] as number },
      sweeps: this.sweep.sweeps,
      watchdogRestarts: this.watchdogs.reduce((a, w) => a + w.restarts, 0),
    });
  }
}

interface OpRef {
  readonly kind: "staged" | "installed" | "verify" | "applied";
  readonly node: number;
  readonly i: number;
  readonly op: number;
  readonly version: number;
  readonly epoch: number;
  readonly rollout: Rollout | null;
  readonly ok?: boolean;
  readonly exits?: number;
}
