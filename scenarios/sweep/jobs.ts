import type { JobEnvelope } from "../../real/queue/job.js";
import { createThreadPool, type ThreadPool } from "../../real/queue/threads.js";
import { JobRefused, type JobAnswer, type JobContext } from "../../real/queue/worker.js";
import type { ThreadResult, ThreadTask } from "./job-thread.js";
import { decodeFrisbeeCell, decodeMonitorCell, decodeSwapCell } from "./plan-jobs.js";
import { specId, SPEC_TEXT_CHARS_MAX, type SweepSpec } from "./spec.js";
import type { SeedResult, Verdict } from "./run-seed.js";

/**
 * The kinds of queue job a `testbed worker` runs, their payloads, and the handler that checks a
 * payload, fetches what it refers to and runs it in a thread. Payload decoders never throw: a
 * malformed job is refused with a line that says what is wrong, and the worker carries on.
 */
export const JOB_KINDS = ["sweep-seed", "plan-frisbee-cell", "plan-monitor-cell", "plan-swap-cell", "echo"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export interface SweepSeedPayload {
  readonly spec: string;
  readonly seed: number;
}

export function sweepSeedPayload(id: string, seed: number): SweepSeedPayload {
  return { spec: id, seed };
}

export function decodeSweepSeedPayload(payload: unknown): SweepSeedPayload | string {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return "payload: expected an object";
  const p = payload as Record<string, unknown>;
  if (typeof p.spec !== "string" || !/^[0-9a-f]{16}$/.test(p.spec)) return "payload.spec: expected a spec id (16 hex digits)";
  if (typeof p.seed !== "number" || !Number.isSafeInteger(p.seed) || p.seed < 0) return "payload.seed: expected a whole number from 0";
  return { spec: p.spec, seed: p.seed };
}

export function decodeSweepSpec(text: string): SweepSpec | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  if (v === null || typeof v !== "object") return "expected an object";
  const s = v as Record<string, unknown>;
  if (typeof s.file !== "string" || typeof s.text !== "string" || s.text.length > SPEC_TEXT_CHARS_MAX) return "file and text: expected strings";
  if (!Array.isArray(s.varies) || !s.varies.every((x) => typeof x === "string")) return "varies: expected a list of strings";
  return { file: s.file, text: s.text, varies: s.varies as string[] };
}

const VERDICTS: readonly Verdict[] = ["pass", "fail", "crash", "invalid"];

/** A seed result as a worker returned it; a submitter checks it before counting it. */
export function decodeSeedResult(value: unknown, seed: number): SeedResult | string {
  if (value === null || typeof value !== "object") return "expected an object";
  const r = value as Record<string, unknown>;
  if (r.seed !== seed) return `seed: expected ${seed}, got ${String(r.seed)}`;
  if (!VERDICTS.includes(r.verdict as Verdict)) return "verdict: unknown";
  if (typeof r.fingerprint !== "string" || typeof r.events !== "number" || typeof r.simSeconds !== "number" || typeof r.wallMs !== "number") return "fingerprint, events, simSeconds, wallMs: wrong types";
  if (!Array.isArray(r.failed) || !r.failed.every((f) => typeof f === "string")) return "failed: expected a list of strings";
  return { seed, verdict: r.verdict as Verdict, fingerprint: r.fingerprint, events: r.events, simSeconds: r.simSeconds, failed: r.failed as string[], wallMs: r.wallMs };
}

export function createJobPool(threads: number): ThreadPool<ThreadTask, ThreadResult> {
  // Beside this file: job-thread.js in dist/, job-thread.ts under the test runner (the pool maps it to dist/).
  const module = new URL(import.meta.url.endsWith(".ts") ? "./job-thread.ts" : "./job-thread.js", import.meta.url);
  return createThreadPool<ThreadTask, ThreadResult>(module, threads);
}

/** The handler `testbed worker` gives the queue worker: every job kind this build knows. */
export function jobHandler(pool: ThreadPool<ThreadTask, ThreadResult>): (job: JobEnvelope, context: JobContext) => Promise<JobAnswer> {
  return async (job, context) => {
    switch (job.kind) {
      case "sweep-seed": {
        const payload = decodeSweepSeedPayload(job.payload);
        if (typeof payload === "string") throw new JobRefused(`malformed job: ${payload}`);
        const text = await context.blob(payload.spec);
        if (text === null) throw new JobRefused(`spec ${payload.spec} is not in Redis (its run was cancelled or expired)`);
        const spec = decodeSweepSpec(text);
        if (typeof spec === "string") throw new JobRefused(`spec ${payload.spec} is malformed: ${spec}`);
        if (specId(spec) !== payload.spec) throw new JobRefused(`spec ${payload.spec} does not match its content`);
        return (await pool.run({ kind: "sweep-seed", specId: payload.spec, spec, seed: payload.seed })) as SeedResult;
      }
      case "plan-frisbee-cell": {
        const cell = decodeFrisbeeCell(job.payload);
        if (typeof cell === "string") throw new JobRefused(`malformed job: ${cell}`);
        return pool.run({ kind: "plan-frisbee-cell", cell });
      }
      case "plan-monitor-cell": {
        const params = decodeMonitorCell(job.payload);
        if (typeof params === "string") throw new JobRefused(`malformed job: ${params}`);
        return pool.run({ kind: "plan-monitor-cell", params });
      }
      case "plan-swap-cell": {
        const cell = decodeSwapCell(job.payload);
        if (typeof cell === "string") throw new JobRefused(`malformed job: ${cell}`);
        return pool.run({ kind: "plan-swap-cell", cell });
      }
      case "echo": {
        if (typeof job.payload !== "string" || job.payload.length > 200) throw new JobRefused("malformed job: an echo payload is a short string");
        return pool.run({ kind: "echo", key: job.payload });
      }
      default:
        throw new JobRefused(`unknown job kind ${JSON.stringify(job.kind.slice(0, 64))} (this worker runs ${JOB_KINDS.join(", ")})`);
    }
  };
}
