import { US_PER_MS, type Micros } from "../../core/engine/index.js";

/** The wall clock as machines see it: integer microseconds since the clock was made, never going back. */
export interface Clock {
  now(): Micros;
}

export function wallClock(): Clock {
  const startNs = process.hrtime.bigint();
  return { now: () => Number((process.hrtime.bigint() - startNs) / 1000n) };
}

/**
 * Time for records that outlive a run (stored events, a monitor's next test times): integer
 * microseconds since the Unix epoch, millisecond-grained, and may step when the system clock does.
 */
export function epochNowUs(): Micros {
  return Date.now() * US_PER_MS;
}
