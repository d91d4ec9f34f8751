import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OutputError, reasonOf } from "./errors.js";
import { trackScratchDir, untrackScratchDir } from "./leftovers.js";

/**
 * A fresh folder for a command's scratch files (a bench's disk, image and targets), made inside
 * `parent` (the system's temporary folder by default). Nothing already in `parent` is touched, and
 * the folder goes whole on `removeScratchDir` or on an interrupt.
 */
export function makeScratchDir(prefix: string, parent?: string): string {
  const base = parent ?? tmpdir();
  if (parent !== undefined) {
    let isDir: boolean;
    try {
      isDir = statSync(parent).isDirectory();
    } catch (error) {
      throw new OutputError(`${parent}: cannot put scratch files there (${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such folder" : reasonOf(error)})`, true);
    }
    if (!isDir) throw new OutputError(`${parent}: cannot put scratch files there (not a folder)`, true);
  }
  let dir: string;
  try {
    dir = mkdtempSync(join(base, prefix));
  } catch (error) {
    throw new OutputError(`${base}: cannot make a scratch folder there (${reasonOf(error)})`, parent !== undefined);
  }
  trackScratchDir(dir);
  return dir;
}

export function removeScratchDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  untrackScratchDir(dir);
}
