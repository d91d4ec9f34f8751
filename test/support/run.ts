import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The compiled command the CLI tests run (test/global-setup.ts builds it). */
export const TESTBED_CLI = fileURLToPath(new URL("../../dist/bin/testbed.js", import.meta.url));

/**
 * The per-test limit for files whose tests run several commands: awaited, a test is held to its
 * limit (a synchronous spawnSync chain never was), and at load 30+ under nice 19 a command can take
 * a minute. Each command has its own timeoutMs; this only bounds their sum. Set with
 * vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS }) at the top of such a file.
 */
export const COMMANDS_TEST_TIMEOUT_MS = 900_000;

/** What a finished child gave: as spawnSync's status, signal, stdout and stderr. */
export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Sent SIGTERM after this long, as spawnSync's `timeout` does; none by default. */
  timeoutMs?: number;
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** Sends the child SIGTERM when aborted (a test that has already failed stops what it started). */
  signal?: AbortSignal;
}

/**
 * Runs a command and waits for it without blocking the event loop. spawnSync blocks the vitest
 * worker for the child's whole life: a few chained CLI runs on a loaded machine outlast vitest's
 * fixed 60 s worker RPC timeout, and the run fails with "Timeout calling onTaskUpdate" though no
 * test did. A command that cannot start resolves like spawnSync's: no code, the error in stderr.
 */
export function run(command: string, args: readonly string[], o: RunOptions = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: o.cwd, env: o.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let failed: Error | null = null;
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    // A child that exits without reading its input must not fail the run with EPIPE.
    child.stdin.on("error", () => {});
    child.stdin.end(o.input ?? "");
    const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGTERM"), o.timeoutMs);
    const abort = (): void => void child.kill("SIGTERM");
    if (o.signal?.aborted === true) abort();
    else o.signal?.addEventListener("abort", abort, { once: true });
    child.on("error", (error) => {
      failed = error;
      // It never started (no such command): there may be no close event to wait for.
      if (child.pid === undefined) resolve({ code: null, signal: null, stdout, stderr: error.message });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", abort);
      resolve({ code, signal, stdout, stderr: failed === null ? stderr : `${stderr}${failed.message}` });
    });
  });
}

/** Runs the compiled `testbed ARGS...` (see run). */
export function runTestbed(args: readonly string[], o: RunOptions = {}): Promise<Ran> {
  return run(process.execPath, [TESTBED_CLI, ...args], o);
}
