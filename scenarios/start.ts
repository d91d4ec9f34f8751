import type { StartPattern } from "../sim/frisbee/decl.js";
import { parseDurationUs } from "./units.js";

export type { StartPattern };

/** The forms a start pattern takes, for messages. */
export const START_PATTERN_FORMS = "simultaneous, clustered:K:S (K clusters, one every S, e.g. clustered:4:10s) or uniform:S (spread over S, e.g. uniform:30s)";

/**
 * `"simultaneous"`, `"clustered:K:S"` (K clusters, one every S) or `"uniform:S"` (spread over S),
 * S a duration with its unit. The one parser of start patterns: a string is why `text` is not one.
 */
export function readStartPattern(text: string): StartPattern | string {
  if (text === "simultaneous") return { kind: "simultaneous" };
  const clustered = /^clustered:([^:]*):(.*)$/.exec(text);
  if (clustered !== null) {
    const k = clustered[1] as string;
    const clusters = /^\d+$/.test(k) ? Number(k) : NaN;
    if (!(clusters >= 1 && clusters <= START_CLUSTERS_MAX)) return `"${text}": K, the number of clusters, must be a whole number from 1 to ${START_CLUSTERS_MAX}`;
    const everyUs = duration(clustered[2] as string);
    if (typeof everyUs === "string") return `"${text}": S, the time between clusters, ${everyUs} (e.g. clustered:${k}:${unitHint(clustered[2] as string)})`;
    return { kind: "clustered", clusters, everyUs };
  }
  const uniform = /^uniform:(.*)$/.exec(text);
  if (uniform !== null) {
    const overUs = duration(uniform[1] as string);
    if (typeof overUs === "string") return `"${text}": S, the time the starts spread over, ${overUs} (e.g. uniform:${unitHint(uniform[1] as string)})`;
    return { kind: "uniform", overUs };
  }
  return `"${text}" is not a start pattern; expected ${START_PATTERN_FORMS}`;
}

/** As readStartPattern, null for anything that is not a start pattern. */
export function parseStartPattern(text: string): StartPattern | null {
  const pattern = readStartPattern(text);
  return typeof pattern === "string" ? null : pattern;
}

/** Most clusters a clustered start may have. */
export const START_CLUSTERS_MAX = 1_000_000;
/** Longest time a start pattern may spread over (a year). */
const START_SPREAD_US_MAX = 366 * 86_400 * 1_000_000;

function duration(text: string): number | string {
  if (/^\d+(\.\d+)?$/.test(text.trim())) return "needs a unit";
  const us = parseDurationUs(text);
  if (us === null) return `must be a duration such as 10s or 500ms, not "${text}"`;
  if (us > START_SPREAD_US_MAX) return `must be at most a year, not "${text}"`;
  return us;
}

/** The duration as the user meant it if it lacks only a unit: seconds. */
function unitHint(text: string): string {
  return /^\d+(\.\d+)?$/.test(text.trim()) ? `${text.trim()}s` : "10s";
}
