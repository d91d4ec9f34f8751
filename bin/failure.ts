import { CommanderError } from "commander";
import { ServiceBenchError } from "../real/agent/bench-error.js";
import { NodeFileError } from "../real/experiment/node-file-error.js";
import { FrisbeeBenchError, ImageFileError } from "../real/frisbee/errors.js";
import { ImageCorruptError, ImageIoError } from "../real/image/errors.js";
import { NodeConfigListenError } from "../real/nodeconfig/errors.js";
import { OutputError, TargetIncompleteError } from "../real/output/errors.js";
import { QueueError, ThreadTaskError } from "../real/queue/errors.js";
import { TargetError } from "../real/runtime/disk.js";
import { NetError } from "../real/runtime/net-error.js";
import { StoreError } from "../real/store/store-error.js";
import { ScenarioError } from "../scenarios/reader.js";
import { SeedsError } from "../scenarios/sweep/seeds.js";
import { NodeConfigFailure, UsageError } from "./errors.js";
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INCOMPLETE, markFinished } from "./interrupt.js";

/*
 * Every command loads this module, so it imports each error class from a module of its own
 * (no further imports): classifying an error must not load the code that throws it (issue 12;
 * test/bin/lean-start.test.ts checks what `testbed --version` loads).
 */

/**
 * The exit code for an error that reaches the user as one line, or null for a bug (which crashes
 * with its stack). Bad input (what the user gave: flags, files, images, addresses) is 2; a failure
 * of the world while working is 1; a target written in place and left partly written is 3.
 */
export function exitCodeOf(error: unknown): number | null {
  if (error instanceof ThreadTaskError) return exitCodeOf(errorFromThread(error.thrownName, error.message, error.stack));
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
  if (error instanceof TargetIncompleteError) return EXIT_INCOMPLETE;
  if (error instanceof UsageError || error instanceof ScenarioError || error instanceof ImageCorruptError || error instanceof SeedsError) return EXIT_BAD_INPUT;
  if (error instanceof QueueError) return error.usage ? EXIT_BAD_INPUT : EXIT_FAILED;
  if (error instanceof OutputError || error instanceof ImageIoError || error instanceof NetError) return error.badInput ? EXIT_BAD_INPUT : EXIT_FAILED;
  if (error instanceof ImageFileError) return EXIT_BAD_INPUT;
  if (error instanceof StoreError || error instanceof FrisbeeBenchError || error instanceof ServiceBenchError || error instanceof TargetError) return EXIT_FAILED;
  if (error instanceof NodeConfigFailure || error instanceof NodeConfigListenError) return EXIT_FAILED;
  if (error instanceof NodeFileError) return EXIT_BAD_INPUT;
  if (isSystemError(error)) return EXIT_FAILED;
  return null;
}

/** Names of the classes a thread's task (simulation, scenarios) throws for the user's mistake: exit 2. */
const USAGE_ERROR_NAMES: readonly string[] = ["UsageError", "PlanError", "SwapPlanError", "SeedsError"];

/**
 * An error thrown on another thread (a job worker, a pool thread), which sends only its class's
 * name, message and stack, as the class this thread classifies: the user's mistakes as their own
 * one-line errors, anything else as a bug that keeps the thread's stack.
 */
export function errorFromThread(name: string, message: string, stack?: string): Error {
  if (name === "ScenarioError") return new ScenarioError(message);
  if (USAGE_ERROR_NAMES.includes(name)) return new UsageError(message);
  const bug = new Error(message);
  bug.name = name;
  if (stack !== undefined) bug.stack = stack;
  return bug;
}

/** A Node system call's failure (ENOSPC, EIO, ...): the world, not a bug. */
function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return error instanceof Error && typeof code === "string" && /^E[A-Z0-9]+$/.test(code) && "syscall" in error;
}

/**
 * Reports an error as one line on stderr and returns its exit code; rethrows a bug. Commander
 * prints its own errors, so they are not printed again.
 */
export function report(error: unknown): number {
  const code = exitCodeOf(error);
  if (code === null) throw error;
  if (!(error instanceof CommanderError)) console.error(`testbed: ${oneLine((error as Error).message)}`);
  return code;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, "; ").trim();
}

/** Runs an async command body, setting the exit code from its result or its error (see report). */
export async function runAsync(body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    if (typeof code === "number") process.exitCode = code;
    markFinished();
  } catch (error) {
    process.exitCode = report(error);
  }
}
