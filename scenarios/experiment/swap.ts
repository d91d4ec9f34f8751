import { closeSync } from "node:fs";
import { randomInt } from "node:crypto";
import type { Micros } from "../../core/engine/index.js";
import type { SwapMachine, SwapSummary } from "../../core/experiment/machine.js";
import { deltaKey, swapPlanOf, type ExperimentSpec, type ImageSizes } from "../../core/experiment/spec.js";
import { isSwapping, transition, type ExperimentAction } from "../../core/experiment/states.js";
import { ImageFileError, openImage } from "../../real/frisbee/image-file.js";
import { ExperimentError, StoreError, type ExperimentRow, type ExperimentStore } from "../../real/store/index.js";
import { SwapRecorder, type FlushListener } from "./recorder.js";
import { runSimSwap } from "./sim-world.js";
import { SIM_DEFAULTS } from "./schema.js";

export type SwapAction = "swapin" | "swapout";
export type SwapWorldKind = "sim" | "real";

/** The fraction of a node's data a simulated delta holds (the delta work's plans use 5% too). */
export const SIM_DELTA_FRACTION = 0.05;
/** Wall time between flushes of a running swap to the store. */
export const FLUSH_MS = 250;

export interface SwapOptions {
  readonly store: ExperimentStore;
  readonly name: string;
  readonly action: SwapAction;
  readonly world: SwapWorldKind;
  readonly seed?: number;
  /** Simulated seconds per wall second (sim only); absent: as fast as possible. */
  readonly speed?: number;
  /** Overrides the site variable images/frisbee/heartbeat for this swap, in seconds. */
  readonly heartbeatSec?: number;
  readonly listeners?: readonly FlushListener[];
  /** Between flushes, for a progress line. */
  readonly onTick?: (machine: SwapMachine, clockUs: Micros) => void;
  /** Non-null when the user interrupts: the swap ends failed, cleanly, with this reason. */
  readonly cancelled?: () => string | null;
  /** The real world's adapter (bin wires it: scenarios cannot know how nodes are reached). */
  readonly real?: RealSwapRunner;
  /** Called once the experiment has moved into its swapping state (the portal answers its button then). */
  readonly onStarted?: () => void;
}

/** Runs a swap in the real world; see scenarios/experiment/real-world.ts. */
export interface RealSwapRunner {
  /** Refuses, before the experiment changes state, what cannot work (a bad node file, too few nodes). */
  check(spec: ExperimentSpec): void;
  run(ctx: SwapContext): Promise<WorldResult>;
}

export interface WorldResult {
  readonly machine: SwapMachine;
  readonly fingerprint: string;
  readonly events: number;
  readonly simSeconds: number;
  readonly extra: Readonly<Record<string, unknown>>;
}

/** What a world needs to run one swap, prepared from the store. */
export interface SwapContext {
  readonly store: ExperimentStore;
  readonly row: ExperimentRow;
  readonly spec: ExperimentSpec;
  readonly action: SwapAction;
  readonly plan: ReturnType<typeof swapPlanOf>;
  readonly sizes: readonly ImageSizes[];
  readonly seed: number;
  readonly heartbeatSec: number;
  readonly event: (timeUs: Micros, host: string, kind: string, fields: Readonly<Record<string, string | number | boolean>>) => void;
  readonly touched: (node: number) => void;
  readonly tick: (machine: SwapMachine, clockUs: Micros, final: boolean) => void;
  readonly cancelled: () => string | null;
  /** Names the physical node for the store and the portal. */
  pnodeName: (pnode: number) => string;
}

export interface SwapResult {
  readonly experiment: string;
  readonly action: SwapAction;
  readonly world: SwapWorldKind;
  readonly ok: boolean;
  readonly state: string;
  readonly reason: string;
  readonly seed: number;
  readonly fingerprint: string;
  readonly events: number;
  readonly eventsStored: number;
  readonly simSeconds: number;
  readonly wallSeconds: number;
  readonly summary: SwapSummary;
  readonly runId: number;
  readonly extra: Readonly<Record<string, unknown>>;
}

/**
 * One swap, in either world: checks the request against the store, moves the experiment through
 * the transition table (refused in one line when the table says no, e.g. a second swap-in), runs
 * the swap machine against the world, records its progress as it goes and the outcome at the end.
 * Whatever happens in between, the experiment leaves its swapping state.
 */
export async function runSwap(o: SwapOptions): Promise<SwapResult> {
  const started = performance.now();
  const { store, name } = o;
  const row = store.experiment(name);
  if (row === undefined) throw new ExperimentError(`no experiment named ${name}`);
  const spec = checkSwappable(row, o);
  imageSizes(spec, o.world);
  if (o.world === "real") {
    if (o.real === undefined) throw new Error("runSwap: the real world needs its runner");
    o.real.check(spec);
  }
  // A second swap from this process (the portal's button pressed twice) is refused by the table.
  if (swapsHere.has(name)) {
    const t = transition(row.state, o.action);
    throw new ExperimentError(`experiment ${name}: ${t.ok ? "a swap of it is running in this process" : t.why}`);
  }
  const claim = claimSwap(store, row, o);
  swapsHere.add(name);
  try {
    return await swapClaimed(o, row, spec, started);
  } finally {
    swapsHere.delete(name);
    claim.release();
  }
}

/** Experiments this process is swapping now (the store's claim cannot tell this process's swaps apart). */
const swapsHere = new Set<string>();

/**
 * One process swaps an experiment at a time: the claim is a row of the store, taken before the
 * state moves. An experiment left in a swapping state by a process that died (killed, crashed,
 * the machine rebooted) is marked failed with that reason when the claim is taken over, so it
 * never stays "swapping" for ever as Emulab's paniced experiments did.
 */
function claimSwap(store: ExperimentStore, row: ExperimentRow, o: SwapOptions): { release: () => void } {
  let claim;
  try {
    claim = store.claimSwap(row.name, `testbed exp ${o.action} ${row.name}${o.world === "sim" ? " --sim" : ""}`);
  } catch (error) {
    if (error instanceof StoreError) throw new ExperimentError(`experiment ${row.name}: ${isSwapping(row.state) ? `it is ${row.state.replace("-", " ")} already: ` : ""}${error.message.replace(/^[^:]*: /, "")}`);
    throw error;
  }
  if (!isSwapping(row.state)) return { release: () => claim.release() };
  const who = claim.tookOverFrom ?? "an earlier process";
  store.transition(row.name, row.state === "swapping-in" ? "swapin-failed" : "swapout-failed", `the ${row.state === "swapping-in" ? "swap-in" : "swap-out"} by ${who} ended without finishing`);
  return { release: () => claim.release() };
}

async function swapClaimed(o: SwapOptions, row: ExperimentRow, spec: ExperimentSpec, started: number): Promise<SwapResult> {
  const { store, name } = o;
  const seed = o.seed ?? randomInt(0, 2 ** 31);
  const heartbeatSec = o.heartbeatSec ?? Number(store.sitevars.get("images/frisbee/heartbeat").value);
  const sizes = imageSizes(spec, o.world);
  const deltas = new Map(store.partitions(name).filter((p) => p.delta !== null).map((p) => [deltaKey(p.node, p.partition), p.delta as string]));
  const plan = swapPlanOf({ ...spec, saveDiskState: store.experiment(name)?.saveDiskState ?? row.saveDiskState }, { sizes, heartbeatUs: heartbeatSec * 1_000_000, deltas: o.action === "swapin" ? deltas : new Map() });
  const fromEventId = store.lastEventId();
  store.transition(name, o.action, "", o.action === "swapin" ? o.world : undefined);
  o.onStarted?.();
  let pnodeName = (p: number): string => `pnode${p}`;
  const recorder = new SwapRecorder(name, store, (p) => pnodeName(p), spec.nodes.map((n) => n.name), o.listeners ?? []);
  let lastFlushMs = 0;
  const ctx: SwapContext = {
    store,
    row,
    spec,
    action: o.action,
    plan,
    sizes,
    seed,
    heartbeatSec,
    event: (t, host, kind, fields) => recorder.event(t, host, kind, fields),
    touched: (node) => recorder.touch(node),
    tick: (m, clockUs, final) => {
      const now = performance.now();
      if (final || now - lastFlushMs >= FLUSH_MS) {
        lastFlushMs = now;
        recorder.flush(m, clockUs);
        o.onTick?.(m, clockUs);
      }
    },
    cancelled: o.cancelled ?? (() => null),
    set pnodeName(f: (p: number) => string) {
      pnodeName = f;
    },
    get pnodeName() {
      return pnodeName;
    },
  };
  let result: WorldResult;
  try {
    result = await runWorld(ctx, o);
  } catch (error) {
    store.transition(name, o.action === "swapin" ? "swapin-failed" : "swapout-failed", `the swap stopped on an error: ${(error as Error).message.split("\n")[0]}`);
    throw error;
  }
  return finish(o, ctx, result, recorder, fromEventId, (performance.now() - started) / 1000);
}

function runWorld(ctx: SwapContext, o: SwapOptions): Promise<WorldResult> {
  if (o.world === "real") return (o.real as RealSwapRunner).run(ctx);
  return runSimSwap({
    kind: o.action,
    plan: ctx.plan,
    sim: ctx.spec.sim ?? SIM_DEFAULTS,
    sizes: ctx.sizes,
    seed: ctx.seed,
    heartbeatSec: ctx.heartbeatSec,
    speed: o.speed ?? null,
    deltaFraction: SIM_DELTA_FRACTION,
    event: ctx.event,
    touched: ctx.touched,
    tick: ctx.tick,
    cancelled: ctx.cancelled,
  }).then((r) => ({ machine: r.machine, fingerprint: r.fingerprint, events: r.events, simSeconds: r.simSeconds, extra: { counters: r.counters, troubled: r.troubled } }));
}

function finish(o: SwapOptions, ctx: SwapContext, r: WorldResult, recorder: SwapRecorder, fromEventId: number, wallSeconds: number): SwapResult {
  const { store, name } = o;
  const outcome = r.machine.outcome ?? { ok: false, reason: "the swap ended without an outcome", atUs: 0 };
  const done: ExperimentAction = o.action === "swapin" ? (outcome.ok ? "swapin-done" : "swapin-failed") : outcome.ok ? "swapout-done" : "swapout-failed";
  if (o.action === "swapout" && outcome.ok && o.world === "sim" && ctx.plan.saveDiskState) recordSimDeltas(ctx);
  const state = store.transition(name, done, outcome.reason);
  const summary = r.machine.summary();
  const runId = store.recordSwapRun(
    name,
    {
      kind: o.action,
      scenario: name,
      seed: String(ctx.seed),
      fingerprint: r.fingerprint,
      events: r.events,
      simSeconds: r.simSeconds,
      wallSeconds: Math.round(wallSeconds * 1000) / 1000,
      ok: outcome.ok,
      results: { world: o.world, heartbeatSec: ctx.heartbeatSec, summary, ...r.extra },
      createdAt: new Date().toISOString(),
    },
    fromEventId,
  );
  return {
    experiment: name,
    action: o.action,
    world: o.world,
    ok: outcome.ok,
    state,
    reason: outcome.reason,
    seed: ctx.seed,
    fingerprint: r.fingerprint,
    events: r.events,
    eventsStored: recorder.eventsStored,
    simSeconds: r.simSeconds,
    wallSeconds: Math.round(wallSeconds * 1000) / 1000,
    summary,
    runId,
    extra: r.extra,
  };
}

/** A simulated swap-out with saved disk state leaves a (simulated) delta per partition, reloaded at the next swap-in. */
function recordSimDeltas(ctx: SwapContext): void {
  ctx.spec.nodes.forEach((n) => {
    for (const p of n.partitions) {
      const bytes = Math.round((ctx.sizes[ctx.spec.images.findIndex((i) => i.name === p.image)] as ImageSizes).uncompressedBytes * SIM_DELTA_FRACTION);
      ctx.store.setDelta(ctx.spec.name, n.name, p.partition, `sim:${ctx.spec.name}/${n.name}/${p.partition}`, bytes);
    }
  });
}

function checkSwappable(row: ExperimentRow, o: SwapOptions): ExperimentSpec {
  if (row.spec === null) throw new ExperimentError(`experiment ${row.name} was created without an experiment file; create one with \`testbed exp create FILE\` to swap it`);
  if (o.action === "swapout" && row.world !== null && row.world !== o.world && row.state !== "failed") {
    throw new ExperimentError(`experiment ${row.name} was swapped in ${row.world === "sim" ? "in the simulator; swap it out with --sim" : "on real nodes; swap it out without --sim"}`);
  }
  if (o.world === "sim" && row.spec.sim === null && row.spec.images.some((i) => i.compressedBytes === null && i.file === null)) {
    throw new ExperimentError(`experiment ${row.name} gives no image sizes for the simulator`);
  }
  return row.spec;
}

/** Image sizes: given in the file, or read from the image file's last chunk header. */
function imageSizes(spec: ExperimentSpec, world: SwapWorldKind): ImageSizes[] {
  return spec.images.map((img) => {
    if (img.file !== null && (world === "real" || img.compressedBytes === null)) {
      try {
        const opened = openImage(img.file);
        closeSync(opened.fd);
        return { compressedBytes: opened.image.byteCount, uncompressedBytes: opened.image.uncompressedBytes };
      } catch (error) {
        if (error instanceof ImageFileError) throw new ExperimentError(`experiment ${spec.name}: image ${img.name}: ${error.message}`);
        throw error;
      }
    }
    return { compressedBytes: img.compressedBytes as number, uncompressedBytes: img.uncompressedBytes as number };
  });
}
