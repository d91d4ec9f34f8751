import { assertMicros } from "../../core/engine/time.js";
import { StoreError, reasonOf } from "./errors.js";

export interface NewRun {
  /** What produced the run, e.g. "sim". */
  readonly kind: string;
  /** Scenario path or name. */
  readonly scenario: string;
  readonly seed: string;
  readonly fingerprint: string;
  /** Events the run executed. */
  readonly events: number;
  readonly simSeconds: number;
  readonly wallSeconds: number;
  readonly ok: boolean;
  /** Any JSON value; stored as JSON text. */
  readonly results: unknown;
  /** UTC time as `Date.prototype.toISOString()` writes it; the store never reads a clock. */
  readonly createdAt: string;
}

export interface RunRow extends NewRun {
  readonly id: number;
}

export interface StoredEventInput {
  readonly timeUs: number;
  readonly host: string;
  readonly kind: string;
  readonly data: Record<string, unknown>;
}

export interface EventRow extends StoredEventInput {
  readonly id: number;
  /** Null for events written by a real daemon outside any run. */
  readonly runId: number | null;
}

export const RUN_INSERT_COLUMNS =
  "kind, scenario, seed, fingerprint, events, sim_seconds, wall_seconds, ok, results, created_at";
export const RUN_COLUMNS = `id, ${RUN_INSERT_COLUMNS}`;
export const EVENT_COLUMNS = "id, run_id, time_us, host, kind, data";

/* One fixed shape so that text order is time order, which listRuns relies on. */
const CREATED_AT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function assertThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function toJson(value: unknown, what: string): string {
  const text = JSON.stringify(value);
  assertThat(typeof text === "string", `${what}: value cannot be stored as JSON`);
  return text;
}

export type RunParams = [string, string, string, string, number, number, number, number, string, string];
export type EventParams = [number | null, number, string, string, string];

/** Checks a run the caller built (a wrong one is a bug) and lays it out as statement parameters. */
export function runParams(run: NewRun): RunParams {
  assertThat(Number.isSafeInteger(run.events) && run.events >= 0, `run.events: expected a count, got ${run.events}`);
  assertThat(Number.isFinite(run.simSeconds) && run.simSeconds >= 0, `run.simSeconds: got ${run.simSeconds}`);
  assertThat(Number.isFinite(run.wallSeconds) && run.wallSeconds >= 0, `run.wallSeconds: got ${run.wallSeconds}`);
  assertThat(
    CREATED_AT_PATTERN.test(run.createdAt),
    `run.createdAt: expected an ISO time like 2024-01-31T12:00:00.000Z, got ${JSON.stringify(run.createdAt)}`,
  );
  return [
    run.kind,
    run.scenario,
    run.seed,
    run.fingerprint,
    run.events,
    run.simSeconds,
    run.wallSeconds,
    run.ok ? 1 : 0,
    toJson(run.results, "run.results"),
    run.createdAt,
  ];
}

export function eventParams(runId: number | null, event: StoredEventInput): EventParams {
  assertMicros(event.timeUs, "event.timeUs");
  assertThat(isRecord(event.data), "event.data: expected an object");
  return [runId, event.timeUs, event.host, event.kind, toJson(event.data, "event.data")];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads the cells of one row, checking each against the type the schema promises. A cell that
 * breaks the promise (a file edited by hand, a damaged disk) is a StoreError naming the table, the
 * row id and the column.
 */
class RowReader {
  readonly id: number;

  constructor(
    private readonly path: string,
    private readonly table: string,
    private readonly row: Record<string, unknown>,
  ) {
    this.id = this.integer("id");
  }

  private corrupted(field: string, problem: string): StoreError {
    return new StoreError(
      this.path,
      `corrupted data in table ${this.table}, row id ${String(this.row["id"])}, field ${field}: ${problem}`,
    );
  }

  private describe(value: unknown): string {
    return value === null ? "null" : `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
  }

  text(field: string): string {
    const value = this.row[field];
    if (typeof value !== "string") throw this.corrupted(field, `expected text, got ${this.describe(value)}`);
    return value;
  }

  integer(field: string): number {
    const value = this.row[field];
    if (!Number.isSafeInteger(value)) throw this.corrupted(field, `expected an integer, got ${this.describe(value)}`);
    return value as number;
  }

  integerOrNull(field: string): number | null {
    return this.row[field] === null ? null : this.integer(field);
  }

  real(field: string): number {
    const value = this.row[field];
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw this.corrupted(field, `expected a number, got ${this.describe(value)}`);
    }
    return value;
  }

  flag(field: string): boolean {
    const value = this.row[field];
    if (value !== 0 && value !== 1) throw this.corrupted(field, `expected 0 or 1, got ${this.describe(value)}`);
    return value === 1;
  }

  json(field: string): unknown {
    const text = this.text(field);
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw this.corrupted(field, `not valid JSON (${reasonOf(error)})`);
    }
  }

  jsonObject(field: string): Record<string, unknown> {
    const value = this.json(field);
    if (!isRecord(value)) throw this.corrupted(field, "expected a JSON object");
    return value;
  }
}

export function decodeRun(path: string, row: unknown): RunRow {
  const cells = new RowReader(path, "runs", row as Record<string, unknown>);
  return {
    id: cells.id,
    kind: cells.text("kind"),
    scenario: cells.text("scenario"),
    seed: cells.text("seed"),
    fingerprint: cells.text("fingerprint"),
    events: cells.integer("events"),
    simSeconds: cells.real("sim_seconds"),
    wallSeconds: cells.real("wall_seconds"),
    ok: cells.flag("ok"),
    results: cells.json("results"),
    createdAt: cells.text("created_at"),
  };
}

export function decodeEvent(path: string, row: unknown): EventRow {
  const cells = new RowReader(path, "events", row as Record<string, unknown>);
  return {
    id: cells.id,
    runId: cells.integerOrNull("run_id"),
    timeUs: cells.integer("time_us"),
    host: cells.text("host"),
    kind: cells.text("kind"),
    data: cells.jsonObject("data"),
  };
}
