import { spawn } from "node:child_process";
import { processStart } from "../store/index.js";
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";

/**
 * A daemon a node keeps running while its experiment is in (the sync server): started detached so
 * it outlives the swap-in command, its pid and start time kept in a file in the node's folder, so
 * the swap-out stops exactly that process and never a later one that reused the pid.
 */
export function startDetached(argv: readonly string[], cwd: string, pidFile: string, logFile: string): { ok: true; alive: () => boolean } | { ok: false; reason: string } {
  stopDetached(pidFile);
  const log = openSync(logFile, "a");
  let child;
  try {
    child = spawn(argv[0] as string, argv.slice(1), { cwd, detached: true, stdio: ["ignore", log, log] });
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  } finally {
    closeSync(log);
  }
  const pid = child.pid;
  if (pid === undefined) return { ok: false, reason: `cannot run ${argv[0]}` };
  child.unref();
  let exited = false;
  child.once("exit", () => (exited = true));
  writeFileSync(pidFile, `${pid} ${processStart(pid)}\n`);
  return { ok: true, alive: () => !exited };
}

/** Stops the process the pid file names, if it is still that process; removes the file. */
export function stopDetached(pidFile: string): void {
  let text: string;
  try {
    text = readFileSync(pidFile, "utf8");
  } catch {
    return;
  }
  const [pidText, start] = text.trim().split(" ");
  const pid = Number(pidText);
  if (Number.isInteger(pid) && pid > 1 && start !== undefined && start !== "" && processStart(pid) === start) {
    try {
      process.kill(-pid, "SIGTERM");
    } catch {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // Gone already.
      }
    }
  }
  rmSync(pidFile, { force: true });
}
