import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type Database from "better-sqlite3";
import { StoreError, guard } from "./errors.js";

/**
 * One writer per role where two would lose data: two monitors on one store would each overwrite
 * the other's node rows. The claim is a row of `store_writers`, taken in an immediate transaction,
 * so two processes cannot both take it. A row left by a process that is gone (killed, crashed) is
 * taken over: the process is looked up by pid and, where /proc has it, by its start time, so a
 * reused pid is not mistaken for the old writer.
 */
export interface WriterClaim {
  /** Gives the role up (the row is removed if it is still ours). */
  release(): void;
  /** The process whose claim was taken over because it was gone, if any: "pid 123 on host h". */
  readonly tookOverFrom: string | null;
}

interface WriterRow {
  pid: number;
  host: string;
  process_start: string;
  started_at: string;
  command: string;
}

/** This process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or "" where there is no /proc. */
export function processStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] ?? "";
  } catch {
    return "";
  }
}

/** Whether the process that wrote `row` may still be running. Another host's process cannot be checked: assumed alive. */
function alive(row: WriterRow): boolean {
  if (row.host !== hostname()) return true;
  try {
    process.kill(row.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const start = processStart(row.pid);
  return row.process_start === "" || start === "" || start === row.process_start;
}

/**
 * Claims `role` on the store for this process, or refuses in one line naming the process that
 * holds it. `command` describes this process for whoever is refused next.
 */
export function claimWriter(db: Database.Database, path: string, role: string, command: string): WriterClaim {
  const me: WriterRow = { pid: process.pid, host: hostname(), process_start: processStart(process.pid), started_at: new Date().toISOString(), command };
  const take = db.transaction((): string | null => {
    const held = db.prepare("SELECT pid, host, process_start, started_at, command FROM store_writers WHERE role = ?").get(role) as WriterRow | undefined;
    if (held !== undefined && !(held.pid === me.pid && held.host === me.host) && alive(held)) {
      throw new StoreError(path, `another ${role} is writing to this store: pid ${held.pid} on ${held.host}, started ${held.started_at} (${held.command}); stop it first or give another --db`);
    }
    db.prepare("INSERT OR REPLACE INTO store_writers (role, pid, host, process_start, started_at, command) VALUES (?, ?, ?, ?, ?, ?)").run(
      role,
      me.pid,
      me.host,
      me.process_start,
      me.started_at,
      me.command,
    );
    return held === undefined || held.pid === me.pid ? null : `pid ${held.pid} on ${held.host}`;
  });
  const tookOverFrom = guard(path, `claim the ${role}'s place as writer`, () => take.immediate());
  return {
    tookOverFrom,
    release() {
      if (!db.open) return;
      guard(path, `release the ${role}'s place as writer`, () => db.prepare("DELETE FROM store_writers WHERE role = ? AND pid = ? AND host = ?").run(role, me.pid, me.host));
    },
  };
}
