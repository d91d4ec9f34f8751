import type { EventSink } from "../../core/engine/index.js";
import { epochNowUs } from "../runtime/clock.js";
import type { Store } from "../store/index.js";

type Fields = Readonly<Record<string, string | number | boolean>>;

/** Protocol errors (malformed datagrams) stored per run; past it they are only counted. */
export const STORED_PROTOCOL_ERRORS_MAX = 1_000;

export interface DaemonEvents extends EventSink {
  readonly counts: Map<string, number>;
  /** Events the store refused (it was busy or broken); the daemon keeps serving. */
  readonly storeFailures: number;
}

export interface DaemonEventsOptions {
  /** Name of this process in the store's host column and in log lines. */
  host: string;
  store: Store | null;
  /** One line per event, e.g. to stderr; null: silent. */
  log: ((line: string) => void) | null;
  /** Also called with every event (tests, the command's own bookkeeping). */
  also?: (kind: string, fields: Fields) => void;
}

/**
 * The daemon's events: each is logged as one structured line (`kind key=value ...`) and stored as
 * one row of the store's events table (time in microseconds since the epoch). Progress reports
 * are rows of kind frisbee.progress with their client and sequence; gaps are frisbee.report-gap.
 */
export function daemonEvents(options: DaemonEventsOptions): DaemonEvents {
  const counts = new Map<string, number>();
  let storeFailures = 0;
  const sink = {
    counts,
    get storeFailures() {
      return storeFailures;
    },
    emit(kind: string, fields: Fields): void {
      const seen = (counts.get(kind) ?? 0) + 1;
      counts.set(kind, seen);
      options.also?.(kind, fields);
      if (kind === "frisbee.bad-message" && seen > STORED_PROTOCOL_ERRORS_MAX) return;
      options.log?.(logLine(kind, fields));
      if (options.store === null) return;
      try {
        options.store.insertEvents(null, [{ timeUs: epochNowUs(), host: options.host, kind, data: { ...fields } }]);
      } catch {
        storeFailures++;
      }
    },
  };
  return sink;
}

export function logLine(kind: string, fields: Fields): string {
  const parts = [kind];
  for (const [key, value] of Object.entries(fields)) {
    const text = String(value);
    parts.push(`${key}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`);
  }
  return parts.join(" ");
}
