import type { Disk, Env, EventSink, Process, Rng } from "../../core/engine/index.js";
import type { Clock } from "./clock.js";
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
