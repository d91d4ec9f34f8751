import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";

/** The end of a child's stderr kept for its failure reason. */
const STDERR_TAIL_BYTES = 2_048;
/** Children running at once across all nodes; more wait in line (a bounded queue of starts). */
export const CHILDREN_MAX = 256;

export interface ChildOutcome {
  readonly ok: boolean;
  /** One line: "exit 3: <last stderr line>", "killed by SIGKILL", or "" when ok. */
  readonly reason: string;
}

/**
 * The processes a node runs for the testbed (a load, a boot, a setup, a save): at most one at a
 * time per node, each in its own process group so an abort (or a release) kills it and whatever it
 * started. A child that ends reports once; one that was killed on purpose reports nothing.
 */
export class NodeProcesses {
  private readonly running = new Map<number, { child: ChildProcess; aborted: boolean }>();

  /** Runs argv for physical node `pnode`; `logPath` collects its output. Calls `done` once, unless aborted. */
  run(pnode: number, argv: readonly string[], o: { cwd: string; env?: NodeJS.ProcessEnv; logPath: string; pidPath?: string }, done: (outcome: ChildOutcome) => void): number {
    this.kill(pnode);
    if (this.running.size >= CHILDREN_MAX) {
      done({ ok: false, reason: `more than ${CHILDREN_MAX} node processes at once` });
      return -1;
    }
    const log = openSync(o.logPath, "a");
    const child = spawn(argv[0] as string, argv.slice(1), { cwd: o.cwd, env: { ...process.env, ...o.env }, detached: true, stdio: ["ignore", log, "pipe"] });
    closeSync(log);
    const entry = { child, aborted: false };
    // Where an operator (or a test) finds the process a node runs now.
    if (o.pidPath !== undefined && child.pid !== undefined) writeFileSync(o.pidPath, `${child.pid}\n`);
    this.running.set(pnode, entry);
    let tail = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => {
      tail = (tail + text).slice(-STDERR_TAIL_BYTES);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
      if (this.running.get(pnode) === entry) this.running.delete(pnode);
      if (entry.aborted) return;
      entry.aborted = true;
      if (spawnError !== undefined) return done({ ok: false, reason: `cannot run ${argv[0]}: ${spawnError.message}` });
      if (code === 0) return done({ ok: true, reason: "" });
      const last = tail.trim().split("\n").pop()?.replace(/^testbed: /, "") ?? "";
      done({ ok: false, reason: signal !== null ? `killed by ${signal}` : `exit ${code}${last === "" ? "" : `: ${last.slice(0, 200)}`}` });
    };
    child.once("error", (e) => finish(null, null, e));
    child.once("close", (code, signal) => finish(code, signal));
    return child.pid ?? -1;
  }

  /** Kills what the node runs now (its whole process group); it reports nothing. */
  kill(pnode: number): void {
    const entry = this.running.get(pnode);
    if (entry === undefined) return;
    entry.aborted = true;
    this.running.delete(pnode);
    killGroup(entry.child);
  }

  killAll(): void {
    for (const pnode of [...this.running.keys()]) this.kill(pnode);
  }

  get count(): number {
    return this.running.size;
  }
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}
