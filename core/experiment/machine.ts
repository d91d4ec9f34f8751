import type { EventSink } from "../engine/ports.js";
import type { Rng } from "../engine/rng.js";
import type { Micros } from "../engine/time.js";
import { EntryHeap } from "../monitor/heap.js";
import type { SwapCommand, SwapPort } from "./commands.js";
import { BOOTING, FAILED, KEPT, LOADING, NODE_PHASES, NodeTable, READY, RELEASED, RELEASING, SAVING, SETUP, WAITING, phaseFigures, round3, type NodeView, type PhaseFigures } from "./node-table.js";
import { checkPlan, loadBudgetUs, type SwapPlan } from "./plan.js";
import { SetupPool } from "./setup-pool.js";

export type SwapKind = "swapin" | "swapout";

export interface SwapOutcome {
  readonly ok: boolean;
  /** One line: what happened, and for a failure why (e.g. "2/40 nodes failed: node3: load timed out ..."). */
  readonly reason: string;
  readonly atUs: Micros;
}

/** When the last node finished each phase, from the start of the swap (seconds), or null if none did. */
export interface Milestones {
  readonly allLoadedSec: number | null;
  readonly allBootedSec: number | null;
  readonly barrierSec: number | null;
  readonly endSec: number | null;
}

export interface SetupFigures {
  readonly pool: string;
  readonly window: number;
  readonly inFlight: number;
  readonly waiting: number;
  readonly retried: number;
  readonly failing: readonly { readonly node: string; readonly failures: number }[];
  readonly flapping: readonly string[];
}

export interface SwapSummary {
  readonly kind: SwapKind;
  readonly nodes: number;
  readonly ready: number;
  readonly failed: number;
  readonly replaced: number;
  readonly retries: { readonly load: number; readonly boot: number; readonly setup: number; readonly save: number };
  readonly reports: number;
  readonly phases: { readonly load: PhaseFigures; readonly boot: PhaseFigures; readonly setup: PhaseFigures };
  readonly milestones: Milestones;
  readonly outcome: SwapOutcome | null;
}

const IMAGE_IDLE = 0;
const IMAGE_STARTING = 1;
const IMAGE_SERVING = 2;

const SYNC_NONE = 0;
const SYNC_WAITING = 1;
const SYNC_STARTING = 2;
const SYNC_UP = 3;

/** The boot barrier's name in events: Emulab counted it with ready bits, not a sync server. */
export const BOOT_BARRIER = "boot";

/**
 * One swap (in or out) of one experiment, as a sans-IO machine. Inputs are results from the world
 * ("node 7 loaded", "setup of node 3 failed", a timer); outputs are commands through the port
 * ("serve image U", "load node 7", "start the sync server on node 2", "save node 7"), delivered
 * after each input is handled. Every step of every node has a deadline, a bounded number of
 * attempts, and after those a spare or a clear failure, so a swap always ends with an outcome.
 */
export class SwapMachine {
  readonly nodes: NodeTable;
  outcome: SwapOutcome | null = null;
  readyCount = 0;
  failedCount = 0;
  replaced = 0;
  /** Each node given to a spare, when and why, in order (at most the plan's replacementsMax). */
  readonly replacements: { readonly node: string; readonly atUs: Micros; readonly why: string }[] = [];
  reports = 0;
  readonly retries = { load: 0, boot: 0, setup: 0, save: 0 };

  private readonly deadlines: EntryHeap;
  private readonly imageState: Uint8Array;
  /** Nodes waiting for or loading each image. */
  private readonly imageUsers: Int32Array;
  private readonly imageDeadlineUs: Float64Array;
  private readonly setup: SetupPool;
  private syncState = SYNC_NONE;
  private syncAttempts = 0;
  private syncDeadlineUs = Infinity;
  private barrierTotal: number;
  private spareNext: number;
  private failing: string | null = null;
  private startUs = 0;
  private barrierUs = NaN;
  private readonly outbox: SwapCommand[] = [];
  private handling = false;

  constructor(
    readonly kind: SwapKind,
    readonly plan: SwapPlan,
    private readonly port: SwapPort,
    private readonly events: EventSink,
    rng: Rng,
  ) {
    const problem = checkPlan(plan);
    if (problem !== null) throw new Error(`swap plan: ${problem}`);
    const n = plan.nodes.length;
    this.nodes = new NodeTable(n);
    this.deadlines = new EntryHeap(new Int32Array(n), n);
    this.imageState = new Uint8Array(plan.images.length);
    this.imageUsers = new Int32Array(plan.images.length);
    this.imageDeadlineUs = new Float64Array(plan.images.length).fill(Infinity);
    this.barrierTotal = n;
    this.spareNext = n;
    this.setup = new SetupPool(plan, rng.fork("setup"), {
      start: (_now, node, attempt) => this.send({ type: "setup", node, pnode: this.pnodeOf(node), attempt }),
      // Withdrawn from the pool: only fail() does that, as the whole swap fails.
      abort: (_now, node, timedOut) => this.send({ type: "abort", node, pnode: this.pnodeOf(node), why: timedOut ? "setup timed out" : "the swap failed" }),
      tested: (_now, node, attempt, outcome) => this.emit("setup.tested", { node: this.name(node), attempt, outcome }),
      flapping: (_now, node, on, percent) => this.emit("setup.flapping", { node: this.name(node), flapping: on, percent: round3(percent) }),
    });
  }

  // ---- inputs -------------------------------------------------------------------------------

  start(now: Micros): void {
    this.input(now, () => {
      this.startUs = now;
      this.emit("swap.start", { kind: this.kind, nodes: this.plan.nodes.length, spares: this.plan.spares });
      if (this.kind === "swapin") this.startSwapIn(now);
      else this.startSwapOut(now);
    });
  }

  imageServing(now: Micros, image: number, ok: boolean, reason = ""): void {
    this.input(now, () => {
      if (this.imageState[image] !== IMAGE_STARTING) return;
      this.imageDeadlineUs[image] = Infinity;
      if (!ok) return this.imageFailed(now, image, reason || "the server did not start");
      this.imageState[image] = IMAGE_SERVING;
      this.emit("image.serving", { image: this.imageName(image) });
      if (this.imageUsers[image] === 0) this.imageDeadlineUs[image] = now + this.plan.limits.imageLingerUs;
      for (let node = 0; node < this.nodes.count; node++) if (this.nodes.phase[node] === WAITING && this.needs(node, image)) this.tryLoad(now, node);
    });
  }

  /** A heartbeat of a loading node, as its image server saw it. */
  progress(now: Micros, node: number, bytesWritten: number, secondsLeft: number | null): void {
    this.input(now, () => {
      this.reports++;
      const t = this.nodes;
      if (t.phase[node] !== LOADING) return;
      t.lastReportUs[node] = now;
      t.bytesWritten[node] = bytesWritten;
      t.secondsLeft[node] = secondsLeft ?? NaN;
      this.setDeadline(node, this.loadDeadline(node, now));
    });
  }

  loadDone(now: Micros, node: number, attempt: number, ok: boolean, reason = ""): void {
    this.input(now, () => {
      if (!this.current(node, LOADING, attempt)) return;
      const t = this.nodes;
      if (!ok) return this.stepFailed(now, node, "load", reason || "load failed");
      this.leaveImages(now, node);
      t.markLoaded(node, now);
      t.bytesWritten[node] = this.imageBytes(node);
      t.secondsLeft[node] = 0;
      this.boot(now, node, 1);
    });
  }

  bootDone(now: Micros, node: number, attempt: number, ok: boolean, reason = ""): void {
    this.input(now, () => {
      if (!this.current(node, BOOTING, attempt)) return;
      if (!ok) return this.stepFailed(now, node, "boot", reason || "boot failed");
      this.nodes.bootedUs[node] = now;
      this.enter(now, node, SETUP);
      if (node === this.plan.syncServer && this.syncState === SYNC_WAITING) this.startSync(now);
      this.nodes.entry[node] = this.setup.add(now, node);
    });
  }

  setupDone(now: Micros, node: number, attempt: number, passed: boolean, reason = ""): void {
    this.input(now, () => {
      if (this.nodes.phase[node] !== SETUP) return;
      if (!passed && reason !== "") this.nodes.reasons.set(node, `setup: ${reason}`);
      this.setup.done(now, this.nodes.entry[node] as number, attempt, passed);
    });
  }

  syncStarted(now: Micros, ok: boolean, reason = ""): void {
    this.input(now, () => {
      if (this.syncState !== SYNC_STARTING) return;
      this.syncDeadlineUs = Infinity;
      if (ok) {
        this.syncState = SYNC_UP;
        this.emit("sync.up", { node: this.name(this.plan.syncServer as number) });
        return this.checkDone(now);
      }
      this.syncFailed(now, reason || "did not start");
    });
  }

  saveDone(now: Micros, node: number, attempt: number, ok: boolean, reason = ""): void {
    this.input(now, () => this.saveResult(now, node, attempt, ok, reason));
  }

  released(now: Micros, node: number): void {
    this.input(now, () => {
      if (this.nodes.phase[node] !== RELEASING) return;
      this.enter(now, node, RELEASED);
      this.checkDone(now);
    });
  }

  /** Deadlines: call at (or after) nextWakeUs(); an early or repeated call does nothing harmful. */
  timer(now: Micros): void {
    this.input(now, () => {
      while (this.deadlines.size > 0 && this.deadlines.topKey() <= now) this.expired(now, this.deadlines.pop());
      for (let image = 0; image < this.imageState.length; image++) {
        if ((this.imageDeadlineUs[image] as number) > now) continue;
        this.imageDeadlineUs[image] = Infinity;
        if (this.imageState[image] === IMAGE_STARTING) this.imageFailed(now, image, "the server did not start in time");
        else if (this.imageState[image] === IMAGE_SERVING && this.imageUsers[image] === 0) this.stopImage(image);
      }
      if (this.syncDeadlineUs <= now) {
        this.syncDeadlineUs = Infinity;
        this.syncFailed(now, "did not start in time");
      }
      this.setup.poll(now);
    });
  }

  /** Ends the swap now as failed (the user interrupted it): work in flight is aborted, nodes released or kept. */
  cancel(now: Micros, why: string): void {
    this.input(now, () => this.fail(now, why));
  }

  /** Stops lingering image servers at once (the process that owns them is ending). */
  shutdown(now: Micros): void {
    this.input(now, () => {
      for (let image = 0; image < this.imageState.length; image++) if (this.imageState[image] !== IMAGE_IDLE) this.stopImage(image);
    });
  }

  // ---- queries ------------------------------------------------------------------------------

  /** When `timer` must next be called, or Infinity. */
  nextWakeUs(): Micros {
    let wake = Math.min(this.deadlines.topKey(), this.syncDeadlineUs, this.setup.nextWakeUs());
    for (const d of this.imageDeadlineUs) if (d < wake) wake = d;
    return wake;
  }

  /** The swap has an outcome and no image server lingers. */
  get finished(): boolean {
    return this.outcome !== null && this.imageState.every((s) => s === IMAGE_IDLE);
  }

  view(node: number): NodeView {
    const t = this.nodes;
    const report = t.lastReportUs[node] as number;
    const left = t.secondsLeft[node] as number;
    return {
      node,
      name: this.name(node),
      pnode: t.pnode[node] as number,
      phase: NODE_PHASES[t.phase[node] as number] as NodeView["phase"],
      attempt: t.attempt[node] as number,
      bytesWritten: t.bytesWritten[node] as number,
      imageBytes: this.imageBytes(node),
      secondsLeft: Number.isNaN(left) ? null : round3(left),
      lastReportUs: Number.isNaN(report) ? null : report,
      reason: t.reasons.get(node) ?? null,
    };
  }

  /** Seconds until every node has loaded, from the servers' estimates (null while none is known). */
  loadSecondsLeft(): number | null {
    let worst: number | null = null;
    for (let node = 0; node < this.nodes.count; node++) {
      const phase = this.nodes.phase[node];
      if (phase !== LOADING && phase !== WAITING) continue;
      const left = this.nodes.secondsLeft[node] as number;
      if (Number.isNaN(left)) continue;
      worst = worst === null ? left : Math.max(worst, left);
    }
    return worst === null ? null : round3(worst);
  }

  /**
   * Seconds until the whole swap-in is done: the load still to come plus the boot and setup time
   * nodes have taken so far (null until a node has loaded and one has come up).
   */
  secondsLeft(): number | null {
    if (this.outcome !== null) return 0;
    const boot = phaseFigures(this.nodes.loadedUs, this.nodes.bootedUs);
    const setup = phaseFigures(this.nodes.bootedUs, this.nodes.readyUs);
    if (boot.nodes === 0 || setup.nodes === 0) return null;
    // Only loading or waiting nodes have an estimate, and the barrier waits for them: none, no load left.
    const load = this.loadSecondsLeft() ?? 0;
    return round3(load + boot.meanSec + setup.meanSec);
  }

  /** Names of the nodes the boot barrier still waits for, at most `max`. */
  waitingFor(max: number): string[] {
    const names: string[] = [];
    for (let node = 0; node < this.nodes.count && names.length < max; node++) {
      const phase = this.nodes.phase[node];
      if (phase !== READY && phase !== FAILED) names.push(this.name(node));
    }
    return names;
  }

  /** The setup pool now: its window, tests in flight and waiting, and the nodes failing or flapping in it (at most `max` each). */
  setupFigures(max = 50): SetupFigures {
    const failing: { node: string; failures: number }[] = [];
    const flapping: string[] = [];
    for (let node = 0; node < this.nodes.count; node++) {
      const entry = this.nodes.entry[node] as number;
      if (this.nodes.phase[node] !== SETUP || entry < 0) continue;
      const failures = this.setup.failuresOf(entry);
      if (failures > 0 && failing.length < max) failing.push({ node: this.name(node), failures });
      if (this.setup.isFlapping(entry) && flapping.length < max) flapping.push(this.name(node));
    }
    return { pool: this.setup.name, window: this.plan.limits.setupWindow, inFlight: this.setup.inFlight, waiting: this.setup.waiting, retried: this.setup.retried, failing, flapping };
  }

  get barrier(): { readonly name: string; readonly ready: number; readonly total: number } {
    return { name: BOOT_BARRIER, ready: this.readyCount, total: this.barrierTotal };
  }

  summary(): SwapSummary {
    const t = this.nodes;
    const since = (us: number): number | null => (Number.isNaN(us) ? null : round3((us - this.startUs) / 1e6));
    return {
      kind: this.kind,
      nodes: t.count,
      ready: this.readyCount,
      failed: this.failedCount,
      replaced: this.replaced,
      retries: { ...this.retries, setup: this.setup.retried },
      reports: this.reports,
      phases: { load: phaseFigures(t.loadStartUs, t.loadedUs), boot: phaseFigures(t.loadedUs, t.bootedUs), setup: phaseFigures(t.bootedUs, t.readyUs) },
      milestones: {
        allLoadedSec: since(this.lastOf(t.loadedUs)),
        allBootedSec: since(this.lastOf(t.bootedUs)),
        barrierSec: since(this.barrierUs),
        endSec: this.outcome === null ? null : since(this.outcome.atUs),
      },
      outcome: this.outcome,
    };
  }

  /**
   * When `count` nodes were first loaded (or ready) at once, in seconds from the start of the swap;
   * null while that has not happened. Milestones printed from these carry the swap's own times, not
   * the time someone looked, and never change once passed (a node replaced later does not undo
   * one), so the lines and their order do not depend on when they are asked.
   */
  /** Seconds from the start of the swap to `atUs` (a time this machine reported). */
  secondsIn(atUs: Micros): number {
    return round3((atUs - this.startUs) / 1e6);
  }

  nthDoneSec(step: "loaded" | "ready", count: number): number | null {
    const reached = step === "loaded" ? this.nodes.loadedReachedUs : this.nodes.readyReachedUs;
    const t = reached[Math.max(1, count)];
    return t === undefined || Number.isNaN(t) ? null : round3((t - this.startUs) / 1e6);
  }

  // ---- swap-in ------------------------------------------------------------------------------

  private startSwapIn(now: Micros): void {
    if (this.plan.syncServer !== null) this.syncState = SYNC_WAITING;
    for (let node = 0; node < this.nodes.count; node++) this.beginNode(now, node);
  }

  /** A node (or the spare now standing for it) starts from the beginning: load, or boot if it loads nothing. */
  private beginNode(now: Micros, node: number): void {
    const parts = (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions;
    if (parts.length === 0) return this.boot(now, node, 1);
    this.waitForImages(now, node, 1);
  }

  /** The node waits until every image it loads is served; the next load is attempt `attempt`. */
  private waitForImages(now: Micros, node: number, attempt: number): void {
    this.enter(now, node, WAITING, attempt);
    for (const part of (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions) {
      this.imageUsers[part.image] = (this.imageUsers[part.image] as number) + 1;
      if (this.imageState[part.image] === IMAGE_SERVING) this.imageDeadlineUs[part.image] = Infinity;
      else if (this.imageState[part.image] === IMAGE_IDLE) {
        this.imageState[part.image] = IMAGE_STARTING;
        this.imageDeadlineUs[part.image] = now + this.plan.limits.imageStartTimeoutUs;
        this.send({ type: "serve-image", image: part.image });
      }
    }
    this.tryLoad(now, node);
  }

  private tryLoad(now: Micros, node: number): void {
    const parts = (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions;
    if (!parts.every((p) => this.imageState[p.image] === IMAGE_SERVING)) return;
    this.load(now, node, Math.max(1, this.nodes.attempt[node] as number));
  }

  private load(now: Micros, node: number, attempt: number): void {
    const t = this.nodes;
    this.enter(now, node, LOADING, attempt);
    t.loadStartUs[node] = now;
    t.lastReportUs[node] = NaN;
    t.bytesWritten[node] = 0;
    t.secondsLeft[node] = NaN;
    t.budgetEndUs[node] = now + loadBudgetUs(this.plan.limits, this.imageBytes(node));
    this.setDeadline(node, this.loadDeadline(node, now));
    this.send({ type: "load", node, pnode: this.pnodeOf(node), attempt, partitions: (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions });
  }

  /** The budget, or sooner when heartbeats are on and the node has gone silent. */
  private loadDeadline(node: number, now: Micros): Micros {
    const t = this.nodes;
    const budget = t.budgetEndUs[node] as number;
    if (this.plan.heartbeatUs === 0) return budget;
    const heard = t.lastReportUs[node] as number;
    const since = Number.isNaN(heard) ? (t.sinceUs[node] as number) : heard;
    return Math.min(budget, Math.max(now, since + Math.max(this.plan.limits.wedgedUs, 3 * this.plan.heartbeatUs)));
  }

  private boot(now: Micros, node: number, attempt: number): void {
    this.enter(now, node, BOOTING, attempt);
    this.setDeadline(node, now + this.plan.limits.bootTimeoutUs);
    this.send({ type: "boot", node, pnode: this.pnodeOf(node), attempt });
  }

  private startSync(now: Micros): void {
    this.syncState = SYNC_STARTING;
    this.syncAttempts++;
    this.syncDeadlineUs = now + this.plan.limits.syncStartTimeoutUs;
    const node = this.plan.syncServer as number;
    this.send({ type: "start-sync", node, pnode: this.pnodeOf(node) });
  }

  private syncFailed(now: Micros, reason: string): void {
    const node = this.plan.syncServer as number;
    this.emit("sync.failed", { node: this.name(node), attempt: this.syncAttempts, reason });
    if (this.syncAttempts < 2 && this.nodes.phase[node] !== FAILED) return this.startSync(now);
    this.syncState = SYNC_NONE;
    this.fail(now, `the sync server on ${this.name(node)} ${reason}`);
  }

  private expired(now: Micros, node: number): void {
    const t = this.nodes;
    const attempt = t.attempt[node] as number;
    switch (t.phase[node]) {
      case LOADING: {
        const silent = this.plan.heartbeatUs > 0 && now < (t.budgetEndUs[node] as number);
        return this.stepFailed(now, node, "load", silent ? `no progress report for ${Math.round((now - this.lastHeard(node)) / 1e6)} s (wedged)` : "load timed out");
      }
      case BOOTING:
        return this.stepFailed(now, node, "boot", "boot timed out");
      case SAVING:
        return this.saveResult(now, node, attempt, false, "save timed out");
      case RELEASING:
        this.emit("node.release-forced", { node: this.name(node), pnode: t.pnode[node] as number });
        this.enter(now, node, RELEASED);
        return this.checkDone(now);
    }
  }

  private lastHeard(node: number): number {
    const heard = this.nodes.lastReportUs[node] as number;
    return Number.isNaN(heard) ? (this.nodes.sinceUs[node] as number) : heard;
  }

  /** A load or boot failed: retry on the same physical node, then a spare, then report the node failed. */
  private stepFailed(now: Micros, node: number, step: "load" | "boot", reason: string): void {
    const t = this.nodes;
    const attempt = t.attempt[node] as number;
    const max = step === "load" ? this.plan.limits.loadAttemptsMax : this.plan.limits.bootAttemptsMax;
    t.reasons.set(node, `${step}: ${reason}`);
    this.emit("node.step-failed", { node: this.name(node), pnode: t.pnode[node] as number, step, attempt, reason });
    this.send({ type: "abort", node, pnode: this.pnodeOf(node), why: `${step} ${reason}` });
    if (step === "load") this.leaveImages(now, node);
    if (attempt < max) {
      this.retries[step]++;
      return step === "load" ? this.waitForImages(now, node, attempt + 1) : this.boot(now, node, attempt + 1);
    }
    this.replaceOrFail(now, node, `${step} failed ${attempt} time${attempt === 1 ? "" : "s"}: ${reason}`);
  }

  /** The setup pool gave up on a node; a last attempt that timed out it has aborted already. */
  private setupGaveUp(now: Micros, node: number, attempts: number, aborted: boolean): void {
    const reason = this.nodes.reasons.get(node) ?? "setup failed";
    if (!aborted) this.send({ type: "abort", node, pnode: this.pnodeOf(node), why: "setup failed" });
    this.replaceOrFail(now, node, `setup failed ${attempts} times (${reason.replace(/^setup: /, "")})`);
  }

  private replaceOrFail(now: Micros, node: number, why: string): void {
    const t = this.nodes;
    const leftSpares = this.plan.nodes.length + this.plan.spares - this.spareNext;
    if (leftSpares > 0 && this.replaced < this.plan.limits.replacementsMax && this.failing === null) {
      const from = t.pnode[node] as number;
      this.send({ type: "release", node, pnode: from });
      t.pnode[node] = this.spareNext++;
      this.replaced++;
      this.replacements.push({ node: this.name(node), atUs: now, why });
      this.emit("node.replaced", { node: this.name(node), from, to: t.pnode[node] as number, reason: why });
      t.resetProgress(node);
      if (node === this.plan.syncServer && this.syncState !== SYNC_NONE) {
        // The server ran on the physical node given back; it starts again on the spare once that boots.
        this.syncState = SYNC_WAITING;
        this.syncDeadlineUs = Infinity;
      }
      return this.beginNode(now, node);
    }
    const spareNote = leftSpares === 0 ? "no spare left" : "replacement limit reached";
    this.nodeFailed(now, node, `${why}; ${spareNote}`);
  }

  private nodeFailed(now: Micros, node: number, why: string): void {
    const t = this.nodes;
    this.removeFromSetup(now, node);
    t.reasons.set(node, why);
    this.enter(now, node, FAILED);
    this.failedCount++;
    const plan = this.plan.nodes[node] as SwapPlan["nodes"][number];
    if (!plan.nonFatal || node === this.plan.syncServer) {
      return this.fail(now, `${this.failedCount}/${t.count} nodes failed: ${this.name(node)}: ${why}`);
    }
    this.barrierTotal--;
    this.emit("node.down-nonfatal", { node: this.name(node), reason: why });
    this.checkDone(now);
  }

  private imageFailed(now: Micros, image: number, reason: string): void {
    // A server that comes up after all must not be left running.
    this.stopImage(image);
    this.fail(now, `image ${this.imageName(image)} could not be served: ${reason}`);
  }

  private checkDone(now: Micros): void {
    if (this.outcome !== null) return;
    if (this.failing !== null || this.kind === "swapout") return this.checkReleased(now);
    if (this.readyCount < this.barrierTotal) return;
    if (Number.isNaN(this.barrierUs)) {
      this.barrierUs = now;
      this.emit("barrier.passed", { barrier: BOOT_BARRIER, ready: this.readyCount, total: this.barrierTotal });
    }
    if (this.syncState === SYNC_WAITING || this.syncState === SYNC_STARTING) return;
    const down = this.failedCount === 0 ? "" : `; ${this.failedCount} non-fatal node${this.failedCount === 1 ? "" : "s"} down`;
    this.conclude(now, true, `swapped in: ${this.readyCount}/${this.nodes.count} nodes ready${down}`);
  }

  private nodeReady(now: Micros, node: number): void {
    this.nodes.entry[node] = -1;
    // What went wrong on the way (a retried load, a flaky setup) is in the events; a ready node shows none.
    this.nodes.reasons.delete(node);
    this.nodes.markReady(node, now);
    this.enter(now, node, READY);
    this.readyCount++;
    this.emit("barrier.count", { barrier: BOOT_BARRIER, node: this.name(node), ready: this.readyCount, total: this.barrierTotal });
    this.checkDone(now);
  }

  // ---- swap-out and failure -----------------------------------------------------------------

  private startSwapOut(now: Micros): void {
    if (this.plan.syncServer !== null) {
      const node = this.plan.syncServer;
      this.send({ type: "stop-sync", node, pnode: this.pnodeOf(node) });
    }
    for (let node = 0; node < this.nodes.count; node++) {
      const parts = (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions;
      if (this.plan.saveDiskState && parts.length > 0) this.save(now, node, 1);
      else this.release(now, node);
    }
    this.checkDone(now);
  }

  private saveResult(now: Micros, node: number, attempt: number, ok: boolean, reason: string): void {
    if (!this.current(node, SAVING, attempt)) return;
    if (ok) return this.release(now, node);
    this.nodes.reasons.set(node, `save: ${reason || "failed"}`);
    this.emit("node.step-failed", { node: this.name(node), pnode: this.pnodeOf(node), step: "save", attempt, reason: reason || "failed" });
    // A save that timed out may still be running; any failed one is stopped, retried or not, so a
    // late upload cannot change the disk state of a node that is kept or saved again.
    this.send({ type: "abort", node, pnode: this.pnodeOf(node), why: `save ${reason || "failed"}` });
    if (attempt < this.plan.limits.loadAttemptsMax && this.failing === null) {
      this.retries.save++;
      return this.save(now, node, attempt + 1);
    }
    this.keep(now, node, `save failed ${attempt} time${attempt === 1 ? "" : "s"}: ${reason || "failed"}`);
  }

  private save(now: Micros, node: number, attempt: number): void {
    this.enter(now, node, SAVING, attempt);
    this.setDeadline(node, now + this.plan.limits.saveTimeoutUs);
    this.send({ type: "save", node, pnode: this.pnodeOf(node), attempt, partitions: (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions });
  }

  private release(now: Micros, node: number): void {
    this.enter(now, node, RELEASING);
    this.setDeadline(node, now + this.plan.limits.releaseTimeoutUs);
    this.send({ type: "release", node, pnode: this.pnodeOf(node) });
  }

  private keep(now: Micros, node: number, why: string): void {
    this.nodes.reasons.set(node, why);
    this.enter(now, node, KEPT);
    this.failedCount++;
    if (this.failing === null) this.failing = `${this.name(node)}: ${why}; the node is kept with its disk, swap out again to retry`;
    this.checkDone(now);
  }

  /** Fails the swap: in-flight work is aborted and every node released (a node being saved finishes first). */
  private fail(now: Micros, why: string): void {
    if (this.outcome !== null || this.failing !== null) return;
    this.failing = why;
    this.emit("swap.failing", { reason: why });
    this.syncDeadlineUs = Infinity;
    for (let node = 0; node < this.nodes.count; node++) {
      const phase = this.nodes.phase[node] as number;
      if (phase === RELEASING || phase === RELEASED || phase === KEPT) continue;
      if (phase === SAVING) {
        // Releasing a node whose disk is not saved yet would lose it: keep the node instead.
        this.send({ type: "abort", node, pnode: this.pnodeOf(node), why: "the swap-out was stopped" });
        this.nodes.reasons.set(node, "not saved: the swap-out was stopped");
        this.enter(now, node, KEPT);
        continue;
      }
      // A node in setup is aborted by the setup pool as its test is withdrawn (removeFromSetup), once.
      if (phase === LOADING || phase === BOOTING) this.send({ type: "abort", node, pnode: this.pnodeOf(node), why: "the swap failed" });
      if (phase === LOADING || phase === WAITING) this.leaveImages(now, node);
      this.removeFromSetup(now, node);
      this.release(now, node);
    }
    this.checkDone(now);
  }

  private checkReleased(now: Micros): void {
    for (let node = 0; node < this.nodes.count; node++) {
      const phase = this.nodes.phase[node];
      if (phase !== RELEASED && phase !== KEPT) return;
    }
    if (this.failing !== null) return this.conclude(now, false, this.failing);
    this.conclude(now, true, `swapped out: ${this.nodes.count} nodes released${this.plan.saveDiskState ? ", disks saved" : ""}`);
  }

  private conclude(now: Micros, ok: boolean, reason: string): void {
    this.outcome = { ok, reason, atUs: now };
    this.emit("swap.end", { kind: this.kind, ok, reason, seconds: round3((now - this.startUs) / 1e6) });
  }

  // ---- helpers ------------------------------------------------------------------------------

  /** Runs one input; commands go out after it, so the port never sees a half-handled input. */
  private input(now: Micros, fn: () => void): void {
    if (this.handling) throw new Error("swap machine: an input arrived while another was being handled (the port must not call back synchronously)");
    this.handling = true;
    try {
      if (this.outcome === null || !this.finished) fn();
      this.drainSetup(now);
    } finally {
      this.handling = false;
    }
    const out = this.outbox.splice(0, this.outbox.length);
    for (const cmd of out) this.port.command(cmd);
  }

  /** Results the setup pool produced while it was being called: passes and give-ups. */
  private drainSetup(now: Micros): void {
    for (let r = this.setup.takeResult(); r !== null; r = this.setup.takeResult()) {
      if (this.nodes.phase[r.node] !== SETUP || this.nodes.entry[r.node] !== r.entry) continue;
      if (r.passed) this.nodeReady(now, r.node);
      else {
        this.nodes.entry[r.node] = -1;
        this.setupGaveUp(now, r.node, r.attempts, r.aborted);
      }
    }
  }

  private removeFromSetup(now: Micros, node: number): void {
    const entry = this.nodes.entry[node] as number;
    if (entry < 0) return;
    this.nodes.entry[node] = -1;
    this.setup.remove(now, entry);
  }

  private current(node: number, phase: number, attempt: number): boolean {
    return this.nodes.phase[node] === phase && this.nodes.attempt[node] === attempt;
  }

  private enter(now: Micros, node: number, phase: number, attempt = 0): void {
    const t = this.nodes;
    if (this.deadlines.has(node)) this.deadlines.remove(node);
    t.phase[node] = phase;
    t.attempt[node] = attempt;
    t.sinceUs[node] = now;
    const fields: Record<string, string | number | boolean> = { node: this.name(node), pnode: t.pnode[node] as number, phase: NODE_PHASES[phase] as string };
    if (attempt > 1) fields.attempt = attempt;
    if (phase === FAILED || phase === KEPT) fields.reason = t.reasons.get(node) ?? "";
    this.emit("node.phase", fields);
  }

  private setDeadline(node: number, atUs: Micros): void {
    if (this.deadlines.has(node)) this.deadlines.remove(node);
    this.deadlines.push(node, atUs);
  }

  private needs(node: number, image: number): boolean {
    return (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions.some((p) => p.image === image);
  }

  /** When the last node that got there reached a milestone (NaN if none did). */
  private lastOf(times: Float64Array): number {
    let last = NaN;
    for (let node = 0; node < times.length; node++) {
      if (this.nodes.phase[node] === FAILED) continue;
      const t = times[node] as number;
      if (!Number.isNaN(t) && (Number.isNaN(last) || t > last)) last = t;
    }
    return last;
  }

  /** The node no longer needs its images; an image nobody needs lingers, then its server stops. */
  private leaveImages(now: Micros, node: number): void {
    for (const part of (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions) {
      const users = (this.imageUsers[part.image] as number) - 1;
      if (users < 0) throw new Error(`image ${part.image}: more nodes left than used it`);
      this.imageUsers[part.image] = users;
      if (users === 0 && this.imageState[part.image] === IMAGE_SERVING) this.imageDeadlineUs[part.image] = now + this.plan.limits.imageLingerUs;
    }
  }

  private stopImage(image: number): void {
    this.imageState[image] = IMAGE_IDLE;
    this.imageDeadlineUs[image] = Infinity;
    this.emit("image.stopped", { image: this.imageName(image) });
    this.send({ type: "stop-image", image });
  }

  private imageBytes(node: number): number {
    let bytes = 0;
    for (const part of (this.plan.nodes[node] as SwapPlan["nodes"][number]).partitions) bytes += (this.plan.images[part.image] as SwapPlan["images"][number]).uncompressedBytes;
    return bytes;
  }

  private pnodeOf(node: number): number {
    return this.nodes.pnode[node] as number;
  }

  private name(node: number): string {
    return (this.plan.nodes[node] as SwapPlan["nodes"][number]).name;
  }

  private imageName(image: number): string {
    return (this.plan.images[image] as SwapPlan["images"][number]).name;
  }

  private send(cmd: SwapCommand): void {
    this.outbox.push(cmd);
  }

  private emit(kind: string, fields: Readonly<Record<string, string | number | boolean>>): void {
    this.events.emit(kind, { experiment: this.plan.experiment, ...fields });
  }
}
