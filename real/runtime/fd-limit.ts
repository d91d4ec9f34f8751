import { readFileSync } from "node:fs";

/** The process's soft limit on open files, from /proc (Linux); null where unknown. */
export function openFilesLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m === null ? null : m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return null;
  }
}
