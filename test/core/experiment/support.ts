import { createRng } from "../../../core/engine/rng.js";
import { DEFAULT_LIMITS, SwapMachine, type SwapCommand, type SwapKind, type SwapLimits, type SwapPlan } from "../../../core/experiment/index.js";

export const SEC = 1_000_000;
const MIB = 2 ** 20;

export interface PlanOptions {
  nodes?: number;
  spares?: number;
  images?: number;
  syncServer?: number | null;
  saveDiskState?: boolean;
  heartbeatUs?: number;
  nonFatal?: readonly number[];
  limits?: Partial<SwapLimits>;
  partitionless?: readonly number[];
}

export function plan(o: PlanOptions = {}): SwapPlan {
  const images = o.images ?? 1;
  return {
    experiment: "exp1",
    nodes: Array.from({ length: o.nodes ?? 3 }, (_, i) => ({
      name: `node${i}`,
      partitions: o.partitionless?.includes(i) ? [] : [{ partition: 1, image: i % images, delta: null }],
      nonFatal: o.nonFatal?.includes(i) ?? false,
    })),
    images: Array.from({ length: images }, (_, i) => ({ name: `img${i}`, uncompressedBytes: 100 * MIB })),
    syncServer: o.syncServer === undefined ? 0 : o.syncServer,
    saveDiskState: o.saveDiskState ?? false,
    spares: o.spares ?? 0,
    heartbeatUs: o.heartbeatUs ?? 0,
    limits: { ...DEFAULT_LIMITS, ...o.limits },
  };
}

/** Drives a machine by hand: commands are collected, the test answers them, time moves when told. */
export class Driver {
  readonly machine: SwapMachine;
  readonly commands: SwapCommand[] = [];
  readonly events: { kind: string; fields: Record<string, string | number | boolean> }[] = [];
  now = 0;

  constructor(kind: SwapKind, p: SwapPlan, seed = 1) {
    this.machine = new SwapMachine(kind, p, { command: (c) => this.commands.push(c) }, { emit: (kind, fields) => this.events.push({ kind, fields: { ...fields } }) }, createRng(seed));
  }

  /** Takes the commands sent so far. */
  take(): SwapCommand[] {
    return this.commands.splice(0, this.commands.length);
  }

  types(cmds: readonly SwapCommand[]): string[] {
    return cmds.map((c) => ("node" in c ? `${c.type}:${c.node}@${c.pnode}` : `${c.type}:${c.image}`));
  }

  advance(us: number): void {
    this.now += us;
    this.machine.timer(this.now);
  }

  /** Runs the timer until no deadline is due before `untilUs`. */
  runTimersUntil(untilUs: number): void {
    for (let wake = this.machine.nextWakeUs(); wake <= untilUs; wake = this.machine.nextWakeUs()) {
      this.now = Math.max(this.now, wake);
      this.machine.timer(this.now);
    }
    this.now = Math.max(this.now, untilUs);
  }

  /** Answers every command in `cmds` with success, one after another, returning the commands that produced. */
  succeed(cmds: readonly SwapCommand[]): SwapCommand[] {
    for (const c of cmds) this.answer(c, true);
    return this.take();
  }

  answer(c: SwapCommand, ok: boolean, reason = "broken"): void {
    const m = this.machine;
    switch (c.type) {
      case "serve-image":
        return m.imageServing(this.now, c.image, ok, ok ? "" : reason);
      case "load":
        return m.loadDone(this.now, c.node, c.attempt, ok, ok ? "" : reason);
      case "boot":
        return m.bootDone(this.now, c.node, c.attempt, ok, ok ? "" : reason);
      case "setup":
        return m.setupDone(this.now, c.node, c.attempt, ok, ok ? "" : reason);
      case "start-sync":
        return m.syncStarted(this.now, ok, ok ? "" : reason);
      case "save":
        return m.saveDone(this.now, c.node, c.attempt, ok, ok ? "" : reason);
      case "release":
        return m.released(this.now, c.node);
      default:
        return;
    }
  }

  /** Answers `first` and everything that follows with success until nothing is left to answer. */
  settle(first: readonly SwapCommand[] = []): void {
    for (let cmds = [...first, ...this.take()]; cmds.length > 0; ) cmds = this.succeed(cmds);
  }

  kinds(kind: string): Record<string, string | number | boolean>[] {
    return this.events.filter((e) => e.kind === kind).map((e) => e.fields);
  }
}
