import { randomBytes } from "node:crypto";
import { createRng, type Disk, type Env, type EventSink, type Net, type Process, type Rng } from "../../core/engine/index.js";
import { wallClock, type Clock } from "./clock.js";
import type { MulticastNet } from "./udp.js";
import { WallTimers } from "./timers.js";

export interface RealParts {
  clock: Clock;
  rng: Rng;
  net: MulticastNet;
  events: EventSink;
  /** Made once the process exists, since its completions go to the process. */
  disk?: (done: NonNullable<Process["diskDone"]>) => Disk;
}

export interface Bound<P extends Process> {
  process: P;
  env: Env;
  timers: WallTimers;
}

/**
 * Runs a core machine in the real world: the ports of `Env` on the wall clock, UDP sockets and a
 * file. Every input reaches the machine from the event loop, one at a time, as in the simulator.
 */
/**
 * An Env on the wall clock for a machine whose inputs the caller wires itself (a sync server's TCP
 * connections, a client's one request): its timers fire on the machine `target()` returns.
 */
export function realEnv(net: Net, events: EventSink, seed: string, target: () => Process | null): { env: Env; timers: WallTimers } {
  const clock = wallClock();
  const timers = new WallTimers(clock, (id) => target()?.timer?.(id));
  return { env: { now: () => clock.now(), rng: createRng(seed), net, timers, events }, timers };
}

/** An unseeded run still has an explicit seed: drawn from the OS, and returned so it can be logged. */
export function freshSeed(): string {
  return randomBytes(8).toString("hex");
}

export function bindProcess<P extends Process>(parts: RealParts, make: (env: Env) => P): Bound<P> {
  let proc: P | null = null;
  const timers = new WallTimers(parts.clock, (id) => proc?.timer?.(id));
  const env: Env = {
    now: () => parts.clock.now(),
    rng: parts.rng,
    net: parts.net,
    timers,
    events: parts.events,
  };
  if (parts.disk !== undefined) env.disk = parts.disk((op, error, data) => proc?.diskDone?.(op, error, data));
  proc = make(env);
  const p = proc;
  parts.net.onReceive((from, fromPort, bytes) => p.receive?.(from, fromPort, bytes));
  p.start?.();
  return { process: p, env, timers };
}
