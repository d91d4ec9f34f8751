import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Engine, HANDLERS_MAX } from "../../../core/engine/engine.js";
import { Fingerprint } from "../../../core/engine/trace.js";
import type { EventHandle } from "../../../core/engine/queue.js";
import { breathe } from "../../support/breathe.js";

type Action = { kind: "schedule"; delayUs: number } | { kind: "cancel"; pick: number };

/** What the interpreter needs from an engine: schedule event `id`, cancel it, run everything. */
interface Scheduler {
  now(): number;
  schedule(timeUs: number, id: number): void;
  cancel(id: number): boolean;
  run(): void;
}

interface Program {
  /** Actions done before the run starts, at time 0. */
  initial: Action[];
  /** Event `id` performs scripts[id % scripts.length] when it runs. */
  scripts: Action[][];
}

const EVENTS_MAX = 250;

/**
 * Runs a program against a scheduler. Handlers schedule more events (often at `now`) and cancel
 * any event ever scheduled, pending, already run or already cancelled. Returns what ran and when,
 * and what every cancel returned.
 */
function interpret(program: Program, make: (onEvent: (id: number) => void) => Scheduler): string[] {
  const log: string[] = [];
  let idNext = 0;
  const perform = (sim: Scheduler, action: Action): void => {
    if (action.kind === "schedule") {
      if (idNext < EVENTS_MAX) sim.schedule(sim.now() + action.delayUs, idNext++);
    } else if (idNext > 0) {
      const id = action.pick % idNext;
      log.push(`cancel ${id} -> ${sim.cancel(id)}`);
    }
  };
  const sim: Scheduler = make((id) => {
    log.push(`run ${id} @${sim.now()}`);
    for (const action of program.scripts[id % program.scripts.length] ?? []) perform(sim, action);
  });
  for (const action of program.initial) perform(sim, action);
  sim.run();
  return log;
}

function engineScheduler(onEvent: (id: number) => void, runInSlicesOf?: number): Scheduler {
  const engine = new Engine();
  const handles: EventHandle[] = [];
  const kind = engine.register<undefined>("test", (id) => onEvent(id));
  return {
    now: () => engine.now,
    schedule: (timeUs, id) => {
      handles[id] = engine.at(timeUs, kind, id);
    },
    cancel: (id) => engine.cancel(handles[id]!),
    run: () => {
      if (runInSlicesOf === undefined) {
        expect(engine.run()).toBe("idle");
        return;
      }
      while (engine.run({ eventsMax: runInSlicesOf }) === "eventsMax");
    },
  };
}

/** The reference: a list scanned for the least (time, seq); cancelling removes from the list. */
function modelScheduler(onEvent: (id: number) => void): Scheduler {
  const pending: { timeUs: number; seq: number; id: number }[] = [];
  let seqNext = 0;
  let now = 0;
  return {
    now: () => now,
    schedule: (timeUs, id) => {
      if (timeUs < now) throw new Error("the program scheduled in the past");
      pending.push({ timeUs, seq: seqNext++, id });
    },
    cancel: (id) => {
      const at = pending.findIndex((e) => e.id === id);
      if (at >= 0) pending.splice(at, 1);
      return at >= 0;
    },
    run: () => {
      for (;;) {
        const sorted = [...pending].sort((a, b) => a.timeUs - b.timeUs || a.seq - b.seq);
        const next = sorted[0];
        if (next === undefined) return;
        pending.splice(pending.indexOf(next), 1);
        now = next.timeUs;
        onEvent(next.id);
      }
    },
  };
}

const delayUs = fc.oneof(fc.constant(0), fc.constantFrom(1, 2, 5), fc.integer({ min: 0, max: 10_000 }));
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("schedule" as const), delayUs }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }) },
);
const program: fc.Arbitrary<Program> = fc.record({
  initial: fc.array(action, { minLength: 1, maxLength: 30, size: "large" }),
  scripts: fc.array(fc.array(action, { maxLength: 4, size: "max" }), { minLength: 1, maxLength: 8, size: "max" }),
});

describe("Engine", () => {
  it("runs exactly the non-cancelled events in (time, insertion) order, whatever handlers schedule and cancel", async () => {
    await fc.assert(
      fc.asyncProperty(program, async (p) => {
        await breathe();
        expect(interpret(p, (on) => engineScheduler(on))).toEqual(interpret(p, modelScheduler));
      }),
      { numRuns: 300 },
    );
  });

  it("runs the same events in the same order when the run is cut into slices by eventsMax", async () => {
    await fc.assert(
      fc.asyncProperty(program, fc.integer({ min: 1, max: 7 }), async (p, slice) => {
        await breathe();
        expect(interpret(p, (on) => engineScheduler(on, slice))).toEqual(interpret(p, (on) => engineScheduler(on)));
      }),
      { numRuns: 100 },
    );
  });

  it("advances the clock only to the time of the next event", () => {
    const engine = new Engine();
    const seen: number[] = [];
    const kind = engine.register<undefined>("tick", () => seen.push(engine.now));
    engine.at(30, kind);
    engine.at(10, kind);
    expect(engine.nextTime()).toBe(10);
    expect(engine.run()).toBe("idle");
    expect(seen).toEqual([10, 30]);
    expect(engine.now).toBe(30);
    expect(engine.nextTime()).toBe(Infinity);
  });

  it("schedules relative to now with after()", () => {
    const engine = new Engine();
    const seen: number[] = [];
    const kind = engine.register<undefined>("tick", (arg) => {
      seen.push(engine.now);
      if (arg > 0) engine.after(25, kind, arg - 1);
    });
    engine.at(100, kind, 2);
    engine.run();
    expect(seen).toEqual([100, 125, 150]);
  });

  it("returns false when a handler cancels its own event, which has already run", () => {
    const engine = new Engine();
    const results: boolean[] = [];
    let handle = -1;
    const kind = engine.register<undefined>("self", () => results.push(engine.cancel(handle)));
    handle = engine.at(5, kind);
    engine.run();
    expect(results).toEqual([false]);
    expect(engine.cancel(handle)).toBe(false);
  });

  it("leaves later events pending and the clock at untilUs when run until a time", () => {
    const engine = new Engine();
    const seen: number[] = [];
    const kind = engine.register<undefined>("tick", (arg) => seen.push(arg));
    engine.at(100, kind, 1);
    engine.at(200, kind, 2);
    engine.at(201, kind, 3);
    expect(engine.run({ untilUs: 200 })).toBe("until");
    expect(seen).toEqual([1, 2]);
    expect(engine.now).toBe(200);
    expect(engine.pending).toBe(1);
    expect(engine.run({ untilUs: 150_000 })).toBe("until");
    expect(seen).toEqual([1, 2, 3]);
    expect(engine.now).toBe(150_000);
    expect(() => engine.at(149_999, kind, 4)).toThrow(/in the past/);
  });

  it("moves the clock to untilUs even when nothing is pending", () => {
    const engine = new Engine();
    expect(engine.run({ untilUs: 5_000 })).toBe("until");
    expect(engine.now).toBe(5_000);
  });

  it("stops after eventsMax events and resumes where it stopped", () => {
    const engine = new Engine();
    const seen: number[] = [];
    const kind = engine.register<undefined>("tick", (arg) => seen.push(arg));
    for (let i = 0; i < 10; i++) engine.at(i * 10, kind, i);
    expect(engine.run({ eventsMax: 4 })).toBe("eventsMax");
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(engine.now).toBe(30);
    expect(engine.pending).toBe(6);
    expect(engine.executed).toBe(4);
    expect(engine.run({ eventsMax: 4 })).toBe("eventsMax");
    expect(engine.run({ eventsMax: 4 })).toBe("idle");
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(engine.executed).toBe(10);
  });

  it("returns after the current event when a handler calls stop()", () => {
    const engine = new Engine();
    const seen: number[] = [];
    const kind = engine.register<undefined>("tick", (arg) => {
      seen.push(arg);
      if (arg === 2) engine.stop();
    });
    for (let i = 0; i < 5; i++) engine.at(i, kind, i);
    expect(engine.run()).toBe("stopped");
    expect(seen).toEqual([0, 1, 2]);
    expect(engine.run()).toBe("idle");
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it("throws when an event is scheduled in the past", () => {
    const engine = new Engine();
    const kind = engine.register<undefined>("tick", () => undefined);
    engine.at(1_000, kind);
    engine.run();
    expect(() => engine.at(999, kind)).toThrow(/in the past/);
    expect(() => engine.after(-1, kind)).toThrow(/in the past/);
  });

  it("passes each event its argument and reference to the handler of its kind", () => {
    const engine = new Engine();
    const seen: string[] = [];
    const a = engine.register<string>("a", (arg, ref) => seen.push(`a ${arg} ${ref}`));
    const b = engine.register<string>("b", (arg, ref) => seen.push(`b ${arg} ${ref}`));
    engine.at(1, b, 7, "x");
    engine.at(1, a, 8, "y");
    engine.run();
    expect(seen).toEqual(["b 7 x", "a 8 y"]);
    expect([engine.handlerName(a), engine.handlerName(b), engine.handlerName(99)]).toEqual(["a", "b", "#99"]);
  });

  it("refuses more than HANDLERS_MAX handlers", () => {
    const engine = new Engine();
    for (let i = 0; i < HANDLERS_MAX; i++) engine.register<undefined>("h", () => undefined);
    expect(() => engine.register<undefined>("one too many", () => undefined)).toThrow(/handlers/);
  });

  it("gives the same fingerprint for the same run, another when an event moves or changes argument or kind", () => {
    const fingerprint = (lastUs: number, lastArg: number, lastKind: 0 | 1): string => {
      const engine = new Engine();
      const kinds = [
        engine.register<undefined>("tick", () => undefined),
        engine.register<undefined>("tock", () => undefined),
      ];
      engine.at(10, kinds[0]!, 1);
      engine.at(lastUs, kinds[lastKind]!, lastArg);
      engine.run();
      return engine.trace.hex();
    };
    const base = fingerprint(20, 2, 0);
    expect(fingerprint(20, 2, 0)).toBe(base);
    expect(fingerprint(21, 2, 0)).not.toBe(base);
    expect(fingerprint(20, 3, 0)).not.toBe(base);
    expect(fingerprint(20, 2, 1)).not.toBe(base);
  });

  it("gives a different trace fingerprint when handlers are registered under other names", () => {
    const fingerprint = (name: string): string => {
      const engine = new Engine();
      engine.register<undefined>(name, () => undefined);
      return engine.trace.hex();
    };
    expect(fingerprint("net.switch")).toBe(fingerprint("net.switch"));
    expect(fingerprint("net.deliver")).not.toBe(fingerprint("net.switch"));
  });

  it("mixes every handler name, then every executed event's time, kind and argument, and nothing else, into its fingerprint", () => {
    const engine = new Engine();
    const names = ["tick", "tock", "far"];
    const kinds = names.map((n) => engine.register<undefined>(n, () => undefined));
    // Times above 2^32 us (about 71 minutes) put their high word beside the kind.
    const events: [number, number, number][] = [[5, 0, 1], [2 ** 32 + 3, 1, 2], [2 ** 40, 2, 0xffffffff], [2 ** 40, 0, 7]];
    for (const [timeUs, kind, arg] of events) engine.at(timeUs, kinds[kind]!, arg);
    const cancelled = engine.at(2 ** 41, kinds[0]!, 9);
    engine.cancel(cancelled);
    engine.run();
    const expected = new Fingerprint();
    for (const n of names) expected.mixString(n);
    for (const [timeUs, kind, arg] of events) expected.mixEvent(timeUs, kind, arg);
    expect(engine.trace.hex()).toBe(expected.hex());
    expect(engine.trace.hex()).toBe("8bf17c48813dbbe1");
  });
});
