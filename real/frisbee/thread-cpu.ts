import { readFileSync, readdirSync } from "node:fs";

/** Linux's clock tick for /proc's CPU times (USER_HZ, 100 on every Linux port that matters here). */
const TICKS_PER_SEC = 100;

/** CPU microseconds (user + system) of the main thread and of every other thread of this process. */
export interface ThreadCpu {
  mainUs: number;
  othersUs: number;
}

/**
 * This process's CPU time split by thread, from /proc/self/task (10 ms ticks): the main thread (the
 * event loop that reads the socket) apart from the worker threads (inflate) and libuv's pool
 * (writes). Null where /proc has no task list. Node 20 has no per-thread cpuUsage.
 */
export function threadCpu(): ThreadCpu | null {
  try {
    const self = String(process.pid);
    let mainUs = 0;
    let othersUs = 0;
    for (const tid of readdirSync("/proc/self/task")) {
      const us = cpuOfStat(readFileSync(`/proc/self/task/${tid}/stat`, "utf8"));
      if (tid === self) mainUs = us;
      else othersUs += us;
    }
    return { mainUs, othersUs };
  } catch {
    return null;
  }
}

/** CPU microseconds (user + system, every thread) of a running process, or null (gone, or no /proc). */
export function processCpuUs(pid: number): number | null {
  try {
    return cpuOfStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** utime + stime of a /proc stat line (fields 14 and 15; the name in parentheses may hold spaces). */
export function cpuOfStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`not a /proc stat line: ${stat.slice(0, 60)}`);
  return (ticks * 1_000_000) / TICKS_PER_SEC;
}
