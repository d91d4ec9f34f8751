/**
 * What travels through the queue: a job envelope (format, build version, run, key, kind and a
 * kind-specific payload), and the names of every Redis key the testbed uses beside BullMQ's.
 */
export interface JobEnvelope {
  readonly format: typeof JOB_FORMAT;
  /** The build that submitted it (BuildVersion.id); only a worker of the same build runs it. */
  readonly version: string;
  /** The submission it belongs to. */
  readonly run: string;
  /** The job within its run (a seed, a plan cell); the BullMQ job id is `<run>-<key>`. */
  readonly key: string;
  readonly kind: string;
  readonly payload: unknown;
}

export const JOB_FORMAT = 1;
/** Limits on an envelope's fields; a job beyond them is malformed. */
const ID_CHARS_MAX = 200;
const KIND_CHARS_MAX = 64;

/** BullMQ's prefix for its own keys, and ours beside them. */
export const KEY_PREFIX = "testbed";

export const keys = {
  /** One queue per build, so a worker never even sees work of another build. */
  queue: (version: string): string => `jobs.${version}`,
  /** Content-addressed data several jobs share (a sweep's scenario), fetched once per worker. */
  blob: (id: string): string => `${KEY_PREFIX}:blob:${id}`,
  /** A run's registration: its build, size and start, refreshed while its submitter waits. */
  run: (run: string): string => `${KEY_PREFIX}:run:${run}`,
  /** The ids of registered runs; a member whose registration expired is dropped by whoever sees it. */
  runs: `${KEY_PREFIX}:runs`,
  /** First fingerprint seen per job key, to catch a second run that disagrees. */
  fingerprints: (run: string): string => `${KEY_PREFIX}:fp:${run}`,
  /** Disagreements found, as JSON lines. */
  nondeterminism: (run: string): string => `${KEY_PREFIX}:nondet:${run}`,
  /** A live worker's heartbeat. */
  worker: (id: string): string => `${KEY_PREFIX}:worker:${id}`,
  workerPattern: `${KEY_PREFIX}:worker:*`,
};

export const jobId = (run: string, key: string): string => `${run}-${key}`;

/** Checks a job's data; an error value (one line) for anything malformed, never a throw. */
export function decodeEnvelope(data: unknown): JobEnvelope | string {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return `expected an object, got ${kindOf(data)}`;
  const d = data as Record<string, unknown>;
  if (d.format !== JOB_FORMAT) return `format: expected ${JOB_FORMAT}, got ${short(d.format)}`;
  for (const field of ["version", "run", "key"] as const) {
    const v = d[field];
    if (typeof v !== "string" || v === "" || v.length > ID_CHARS_MAX || !/^[A-Za-z0-9._+-]+$/.test(v)) return `${field}: expected an id (letters, digits, . _ + -), got ${short(v)}`;
  }
  if (typeof d.kind !== "string" || d.kind === "" || d.kind.length > KIND_CHARS_MAX) return `kind: expected a job kind, got ${short(d.kind)}`;
  if (!("payload" in d)) return "payload: missing";
  return { format: JOB_FORMAT, version: d.version as string, run: d.run as string, key: d.key as string, kind: d.kind, payload: d.payload };
}

function kindOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "a list" : typeof v;
}

function short(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return v === undefined ? "nothing" : kindOf(v) === "object" || Array.isArray(v) ? kindOf(v) : String(v);
}
