import { rmSync, unlinkSync } from "node:fs";

/*
 * What this process has on disk that is not finished: temporary files (renamed into place only on
 * success), scratch directories, and targets written in place. An interrupt handler must clean up
 * synchronously (the process exits right after), so the registry is module state, one per process,
 * and `cleanUpNow` uses only synchronous calls.
 */

const temps = new Map<string, string>();
const scratchDirs = new Set<string>();
const inPlace = new Map<string, { written: boolean }>();

/** A temporary file for `finalPath`: removed by `cleanUpNow` unless committed first. */
export function trackTemp(tempPath: string, finalPath: string): void {
  temps.set(tempPath, finalPath);
}

export function untrackTemp(tempPath: string): void {
  temps.delete(tempPath);
}

/** A directory this process made for scratch files: removed whole by `cleanUpNow`. */
export function trackScratchDir(dir: string): void {
  scratchDirs.add(dir);
}

export function untrackScratchDir(dir: string): void {
  scratchDirs.delete(dir);
}

/** A target written in place (a block device, a fixed-size file); `written` once any byte may have reached it. */
export function trackInPlace(path: string): { written: boolean } {
  const state = { written: false };
  inPlace.set(path, state);
  return state;
}

export function untrackInPlace(path: string): void {
  inPlace.delete(path);
}

export interface Leftovers {
  /** Final names whose temporary files were removed: nothing was written under them. */
  readonly removed: readonly string[];
  /** Scratch directories removed. */
  readonly scratch: readonly string[];
  /** Targets written in place that were touched and not finished: incomplete. */
  readonly incomplete: readonly string[];
}

/**
 * Removes every temporary file and scratch directory still registered and reports what is left:
 * the in-place targets that were written to. Synchronous, for a signal handler about to exit.
 * Never touches a file the process did not create.
 */
export function cleanUpNow(): Leftovers {
  const removed: string[] = [];
  for (const [temp, final] of temps) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone (a failed create); nothing of ours is left under that name
    }
    removed.push(final);
  }
  temps.clear();
  const scratch = [...scratchDirs];
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
  const incomplete = [...inPlace].filter(([, s]) => s.written).map(([path]) => path);
  return { removed, scratch, incomplete };
}

/** What the registry holds now, without changing anything (for messages and tests). */
export function pendingLeftovers(): Leftovers {
  return {
    removed: [...temps.values()],
    scratch: [...scratchDirs],
    incomplete: [...inPlace].filter(([, s]) => s.written).map(([path]) => path),
  };
}
