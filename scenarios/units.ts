/**
 * Quantities in scenario files are strings with units, so a reader never guesses whether 100 means
 * bits or bytes, milliseconds or seconds. Each parser returns null on anything it does not accept.
 */

const NUMBER = String.raw`(\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?`;

// Trimmed before matching: padding on both sides of an optional unit backtracks quadratically.
const QUANTITY = new RegExp(`^(${NUMBER})\\s*([A-Za-z/]*)$`);

function split(text: string, units: Readonly<Record<string, number>>): number | null {
  const match = QUANTITY.exec(text.trim());
  if (match === null) return null;
  const factor = units[match[3] ?? ""];
  if (factor === undefined) return null;
  const value = Number(match[1]) * factor;
  return Number.isFinite(value) ? value : null;
}

const RATE_UNITS: Readonly<Record<string, number>> = {
  bit: 1,
  bps: 1,
  Kbit: 1e3,
  kbit: 1e3,
  Kbps: 1e3,
  kbps: 1e3,
  Mbit: 1e6,
  Mbps: 1e6,
  Gbit: 1e9,
  Gbps: 1e9,
  "B/s": 8,
  "KB/s": 8e3,
  "MB/s": 8e6,
  "GB/s": 8e9,
  "KiB/s": 8 * 2 ** 10,
  "MiB/s": 8 * 2 ** 20,
  "GiB/s": 8 * 2 ** 30,
};

/** "100Mbit", "1Gbps", "12.5MB/s" -> bits per second. */
export function parseRateBps(text: string): number | null {
  return split(text, RATE_UNITS);
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

/** "64KiB", "1MB", "1500" -> bytes (rounded to a whole byte). */
export function parseBytes(text: string): number | null {
  const value = split(text, BYTE_UNITS);
  return value === null ? null : Math.round(value);
}

/** "50MiB/s" -> bytes per second. */
export function parseByteRate(text: string): number | null {
  const bits = split(text, RATE_UNITS);
  return bits === null ? null : bits / 8;
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  us: 1,
  ms: 1e3,
  s: 1e6,
  m: 60e6,
  min: 60e6,
  h: 3600e6,
  d: 86400e6,
};

/** "10ms", "1.5s", "250us", "2h" -> integer microseconds. */
export function parseDurationUs(text: string): number | null {
  const value = split(text, DURATION_UNITS);
  return value === null ? null : Math.round(value);
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(2))}${units[unit]}`;
}

const MINUTE_SEC = 60;
const HOUR_SEC = 3600;
const DAY_SEC = 86_400;
/** Where the next unit takes over: "90 s", "75 min" and "26.3 h" read better than "1.5 min", "1.3 h" and "1.1 d". */
const MINUTES_FROM_SEC = 2 * MINUTE_SEC;
const HOURS_FROM_SEC = 1.5 * HOUR_SEC;
const DAYS_FROM_SEC = 2 * DAY_SEC;

/** Seconds for a reader: "42.5 s", "12.3 min", "26.3 h", "4.6 d" (one decimal). */
export function formatSeconds(seconds: number): string {
  const abs = Math.abs(seconds);
  const [value, unit] =
    abs < MINUTES_FROM_SEC
      ? [seconds, "s"]
      : abs < HOURS_FROM_SEC
        ? [seconds / MINUTE_SEC, "min"]
        : abs < DAYS_FROM_SEC
          ? [seconds / HOUR_SEC, "h"]
          : [seconds / DAY_SEC, "d"];
  return `${Number(value.toFixed(1))} ${unit}`;
}
