import { setImmediate as yieldToLoop, setTimeout as sleep } from "node:timers/promises";
import { createRng, type EventHandle, type HandlerId, type Micros, type StopReason } from "../../core/engine/index.js";
import { SwapMachine, type SwapKind } from "../../core/experiment/machine.js";
import type { SwapPlan } from "../../core/experiment/plan.js";
import type { ImageSizes, SimSpec } from "../../core/experiment/spec.js";
import { SimTestbed } from "../../sim/experiment/testbed.js";
import { machineInputs } from "./inputs.js";

/** Simulated time run between looks at the wall clock when running as fast as possible. */
const SLICE_US = 2_000_000;
/**
 * A slice of the run lasts about this long (wall time) before the event loop may turn: a portal
 * serving the swap, or a test driving its page, answers meanwhile. Slices of 300,000 events held
 * the process 2.5 s at load 18. The run does not depend on where slices end: the engine runs the
 * same events in the same order however it is cut, and the swap stops at its outcome.
 */
const SLICE_MS = 20;
/** Events run between two looks at the clock within a slice (about 10 ms of work at most). */
const SLICE_STEP_EVENTS = 1_000;
/** How often a swap watched live (--speed) advances. */
const LIVE_TICK_MS = 50;

export interface SimSwapOptions {
  readonly kind: SwapKind;
  readonly plan: SwapPlan;
  readonly sim: SimSpec;
  readonly sizes: readonly ImageSizes[];
  readonly seed: number;
  readonly heartbeatSec: number;
  /** Simulated seconds per wall second; null: as fast as the machine goes. */
  readonly speed: number | null;
  readonly deltaFraction: number;
  /** Machine and world events, with the swap clock. */
  readonly event: (timeUs: Micros, host: string, kind: string, fields: Readonly<Record<string, string | number | boolean>>) => void;
  readonly touched: (node: number) => void;
  /** Called between slices with the swap clock; the caller flushes and draws progress there. */
  readonly tick: (machine: SwapMachine, clockUs: Micros, final: boolean) => void;
  /** Set when the user interrupts; the swap then ends as failed, cleanly. */
  readonly cancelled: () => string | null;
}

export interface SimSwapResult {
  readonly machine: SwapMachine;
  readonly fingerprint: string;
  readonly events: number;
  readonly simSeconds: number;
  readonly counters: SimTestbed["counters"];
  readonly troubled: { readonly flaky: number; readonly bad: number; readonly crash: number };
}

/**
 * One swap in the simulated world: the swap machine runs on the simulator's engine beside the
 * testbed it commands, so the whole swap is one seeded, replayable run with a trace fingerprint.
 * Between slices of simulated time the caller records progress; with a speed the slices follow
 * the wall clock so the swap can be watched live.
 */
export async function runSimSwap(o: SimSwapOptions): Promise<SimSwapResult> {
  let machine: SwapMachine | null = null;
  const m = (): SwapMachine => machine as unknown as SwapMachine;
  let wakeHandle: EventHandle | null = null;
  let wakeAt = Infinity;
  let stoppedAtOutcome = false;
  const testbed = new SimTestbed(
    { seed: o.seed, nodes: o.plan.nodes.length, spares: o.plan.spares, sim: o.sim, images: o.sizes, imageNames: o.plan.images.map((i) => i.name), heartbeatSec: o.heartbeatSec, deltaFraction: o.deltaFraction },
    {
      ...machineInputs(m, input, o.touched),
      event: (now, host, kind, fields) => o.event(now, host, kind, fields),
    },
  );
  const world = testbed.world;
  const wake: HandlerId<undefined> = world.engine.register("experiment.wake", () => {
    wakeHandle = null;
    wakeAt = Infinity;
    input(() => m().timer(world.now()));
  });
  /**
   * After every input the machine's next deadline is armed (one engine event at most). Once the
   * machine has its outcome the engine stops there, so where the run ends (and its fingerprint)
   * does not depend on how it was sliced or how fast it was watched.
   */
  function input(fn: () => void): void {
    fn();
    if (!stoppedAtOutcome && m().outcome !== null) {
      stoppedAtOutcome = true;
      world.engine.stop();
    }
    const next = m().nextWakeUs();
    if (next === wakeAt) return;
    if (wakeHandle !== null) world.engine.cancel(wakeHandle);
    wakeHandle = null;
    wakeAt = next;
    if (next !== Infinity) wakeHandle = world.engine.at(Math.max(next, world.now()), wake);
  }
  machine = new SwapMachine(o.kind, o.plan, { command: (cmd) => testbed.obey(cmd) }, { emit: (kind, fields) => o.event(world.now(), "boss", kind, fields) }, createRng(o.seed).fork("swap"));
  testbed.call(0, () => input(() => m().start(world.now())));
  await drive(o, world, m, input, testbed);
  return {
    machine: m(),
    fingerprint: world.engine.trace.hex(),
    events: world.engine.executed,
    simSeconds: Math.round(((m().outcome?.atUs ?? world.now()) / 1e6) * 1000) / 1000,
    counters: testbed.counters,
    troubled: testbed.troubled,
  };
}

async function drive(o: SimSwapOptions, world: SimTestbed["world"], m: () => SwapMachine, input: (fn: () => void) => void, testbed: SimTestbed): Promise<void> {
  const startedMs = performance.now();
  let cancelSent = false;
  while (m().outcome === null) {
    const why = o.cancelled();
    if (why !== null && !cancelSent) {
      cancelSent = true;
      testbed.call(world.now(), () => input(() => m().cancel(world.now(), why)));
    }
    const target = o.speed === null ? world.now() + SLICE_US : Math.max(world.now(), Math.round((performance.now() - startedMs) * 1000 * o.speed));
    const stop = runSlice(world.engine, target);
    if (m().outcome === null && world.engine.pending === 0) throw new Error("simulated swap stalled: nothing pending and no outcome (a bug in the machine or the testbed)");
    o.tick(m(), world.now(), false);
    // Watched live, the swap waits for the wall clock once it has caught up with it; behind it (a
    // busy machine), it only lets the event loop turn before the next slice.
    if (o.speed === null || stop === "eventsMax") await yieldToLoop();
    else await sleep(LIVE_TICK_MS);
  }
  // The process ends with the swap: lingering image servers stop now rather than after their linger.
  testbed.call(world.now(), () => input(() => m().shutdown(world.now())));
  world.engine.run({ untilUs: world.now() });
  o.tick(m(), m().outcome?.atUs ?? world.now(), true);
}

/** Runs the engine up to `untilUs`, or until the slice's time is up ("eventsMax": more is due). */
function runSlice(engine: SimTestbed["world"]["engine"], untilUs: Micros): StopReason {
  const started = performance.now();
  for (;;) {
    const stop = engine.run({ untilUs, eventsMax: SLICE_STEP_EVENTS });
    if (stop !== "eventsMax" || performance.now() - started >= SLICE_MS) return stop;
  }
}
