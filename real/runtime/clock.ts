import type { Micros } from "../../core/engine/index.js";

/** The wall clock as machines see it: integer microseconds since the clock was made, never going back. */
export interface Clock {
  now(): Micros;
}

export function wallClock(): Clock {
  const startNs = process.hrtime.bigint();
  return { now: () => Number((process.hrtime.bigint() - startNs) / 1000n) };
}
