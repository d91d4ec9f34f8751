/**
 * What the real monitor says as it runs: one line per happening, as text for a person and as
 * fields for `--json`. The time is wall-clock microseconds since the epoch; the command prints it.
 */
export interface MonitorLine {
  /** start, tested, move, flap, paused, resumed, next-due, stopped */
  readonly kind: string;
  readonly timeUs: number;
  readonly node?: string;
  /** The line for a person, without the time. */
  readonly text: string;
  readonly fields: Readonly<Record<string, string | number | boolean | null>>;
}

/** A duration for a person: 45 s, 19 min, 3.2 h. */
export function humanDuration(us: number): string {
  const s = Math.max(0, us) / 1e6;
  if (s < 100) return `${Math.round(s)} s`;
  if (s < 6000) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** ISO 8601 in UTC, to the second, from epoch microseconds. */
export function isoTime(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** When something is due, for a person: "now" or "at <time> (in <duration>)". */
export function dueText(dueUs: number, nowUs: number): string {
  return dueUs <= nowUs ? "now" : `at ${isoTime(dueUs)} (in ${humanDuration(dueUs - nowUs)})`;
}

export interface StartFacts {
  nodes: number;
  resumed: number;
  added: number;
  pools: Record<string, number>;
  test: string;
  window: number;
  timeoutSec: number;
  loadMax: number;
  firstDueUs: number;
}

/** The first line: what is monitored, how, and when the first test is due. */
export function startLine(nowUs: number, f: StartFacts): MonitorLine {
  const pools = Object.entries(f.pools).map(([k, v]) => `${k} ${v}`).join(", ");
  return {
    kind: "start",
    timeUs: nowUs,
    text: `monitoring ${f.nodes} nodes (${f.resumed} resumed, ${f.added} new; pools: ${pools}) with ${f.test}; window ${f.window}, timeout ${f.timeoutSec} s, load max ${f.loadMax}; first test due ${dueText(f.firstDueUs, nowUs)}`,
    fields: { nodes: f.nodes, resumed: f.resumed, added: f.added, ...prefixed("pool.", f.pools), test: f.test, window: f.window, timeoutSec: f.timeoutSec, loadMax: f.loadMax, firstDue: isoTime(Math.max(nowUs, f.firstDueUs)) },
  };
}

function prefixed(prefix: string, record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [`${prefix}${k}`, v]));
}

/** The load gate closed or opened. */
export function gateLine(nowUs: number, paused: boolean, load: number, loadMax: number, inFlight: number): MonitorLine {
  const l = Math.round(load * 100) / 100;
  return {
    kind: paused ? "paused" : "resumed",
    timeUs: nowUs,
    text: paused
      ? `load ${l} is above --load-max ${loadMax}: no new test starts (${inFlight} in flight finish)`
      : `load ${l} is back under --load-max ${loadMax}: testing resumes`,
    fields: { load: l, loadMax, inFlight },
  };
}

/** `--once` stops with nodes whose next test is not due yet: says when it is. */
export function nextDueLine(nowUs: number, notDue: number, dueUs: number, node: string): MonitorLine {
  return {
    kind: "next-due",
    timeUs: nowUs,
    node,
    text: `--once: ${notDue} node${notDue === 1 ? " is" : "s are"} not due yet; the next test is due ${dueText(dueUs, nowUs)} (${node}); stopping`,
    fields: { notDue, nextDue: isoTime(dueUs) },
  };
}
