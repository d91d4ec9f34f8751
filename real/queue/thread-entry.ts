import { pathToFileURL } from "node:url";
import { workerData } from "piscina";

/**
 * The module every pool thread loads (see threads.ts). It runs the pool's task module and returns
 * what the task threw as its class's name, message and stack: Piscina clones a thrown error, and a
 * clone keeps the name of built-in classes only, so a SwapPlanError (the user's plan, exit 2)
 * arrived as a plain Error and was taken for a bug.
 */
export type ThreadOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly name: string; readonly message: string; readonly stack?: string };

/** What the pool gives each thread: the compiled module whose default export runs a task. */
export interface ThreadData {
  readonly module: string;
}

let task: Promise<(input: unknown) => unknown> | null = null;

export default async function runInThread(input: unknown): Promise<ThreadOutcome> {
  try {
    task ??= import(pathToFileURL((workerData as ThreadData).module).href).then((m: { default: (input: unknown) => unknown }) => m.default);
    return { ok: true, value: await (await task)(input) };
  } catch (error) {
    return thrownOutcome(error);
  }
}

export function thrownOutcome(error: unknown): ThreadOutcome {
  if (!(error instanceof Error)) return { ok: false, name: "Error", message: String(error) };
  return { ok: false, name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) };
}
