/** Simulated and real time alike: integer microseconds since the start of a run. */
export type Micros = number;

export const US_PER_MS = 1_000;
export const US_PER_SEC = 1_000_000;
export const US_PER_DAY = 86_400 * US_PER_SEC;

export function secondsToMicros(seconds: number): Micros {
  return Math.round(seconds * US_PER_SEC);
}

export function microsToSeconds(us: Micros): number {
  return us / US_PER_SEC;
}

/** Time in microseconds to put `bytes` on a wire running at `bitsPerSec`, rounded up to whole microseconds. */
export function serialisationUs(bytes: number, bitsPerSec: number): Micros {
  return Math.ceil((bytes * 8 * US_PER_SEC) / bitsPerSec);
}

export function assertMicros(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${what}: expected a non-negative integer number of microseconds, got ${value}`);
  }
}
