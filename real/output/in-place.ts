import { fstatSync, readFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { checkOutput, type CheckOptions } from "./check.js";
import { OutputError, TargetIncompleteError, reasonOf } from "./errors.js";
import { trackInPlace, untrackInPlace } from "./leftovers.js";

export { TargetIncompleteError };

/**
 * A target written where it is (a block device, or a file kept at its size as a disk): it cannot
 * appear whole or not at all, so once a byte may have reached it, a failure or an interrupt says
 * that it is incomplete instead.
 */
export interface InPlaceTarget {
  readonly path: string;
  readonly fh: FileHandle;
  /** What the target holds: a device's size, a fixed file's size. */
  readonly sizeBytes: number;
  readonly isBlockDevice: boolean;
  /** Call before the first write: from then on, a failure or an interrupt reports the target incomplete. */
  markWritten(): void;
  readonly written: boolean;
  /** Syncs and closes: the target is complete. On failure it stays open, for abandon(). */
  finish(): Promise<void>;
  /** Closes after a failure; true if the target was written to and is now incomplete. */
  abandon(): Promise<boolean>;
}


export interface InPlaceOptions extends CheckOptions {
  /** Accept an existing regular file as a disk of its present size (`--fixed-size`). */
  readonly fixedSize?: boolean;
}

/** Opens an existing block device (or, with fixedSize, regular file) for writing in place, after the output checks. */
export async function openInPlace(path: string, o: InPlaceOptions = {}): Promise<InPlaceTarget> {
  const what = o.what ?? "target";
  const checked = checkOutput(path, o);
  if (checked.kind === "missing") throw new OutputError(`${path}: no such ${o.fixedSize ? "file" : "block device"} to write in place`, true);
  if (checked.kind === "file" && o.fixedSize !== true) throw new OutputError(`${path}: the ${what} is a regular file; it is written in place only with --fixed-size`, true);
  let fh: FileHandle;
  try {
    fh = await open(checked.resolved, "r+");
  } catch (error) {
    throw new OutputError(`${path}: cannot open the ${what} for writing (${reasonOf(error)}); nothing was written`, true);
  }
  let sizeBytes: number;
  try {
    sizeBytes = targetSizeBytes(fh.fd);
  } catch (error) {
    await fh.close();
    throw new OutputError(`${path}: cannot find the ${what}'s size (${reasonOf(error)}); nothing was written`, false);
  }
  return new Target(path, fh, sizeBytes, checked.kind === "block-device");
}

class Target implements InPlaceTarget {
  private readonly state;
  private closed = false;

  constructor(
    readonly path: string,
    readonly fh: FileHandle,
    readonly sizeBytes: number,
    readonly isBlockDevice: boolean,
  ) {
    this.state = trackInPlace(path);
  }

  markWritten(): void {
    this.state.written = true;
  }

  get written(): boolean {
    return this.state.written;
  }

  async finish(): Promise<void> {
    try {
      await this.fh.sync();
    } catch (error) {
      // Still open and tracked: the caller's abandon() closes it and reports it incomplete.
      throw new OutputError(`${this.path}: cannot sync the target (${reasonOf(error)})`, false);
    }
    this.closed = true;
    await this.fh.close();
    untrackInPlace(this.path);
  }

  async abandon(): Promise<boolean> {
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    untrackInPlace(this.path);
    return this.state.written;
  }
}

/** A regular file's size, or a block device's from sysfs (fstat says 0 for a device). */
export function targetSizeBytes(fd: number): number {
  const st = fstatSync(fd, { bigint: true });
  if (!st.isBlockDevice()) return Number(st.size);
  const major = Number((st.rdev >> 8n) & 0xfffn);
  const minor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & 0xfff00n));
  return Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, "utf8").trim()) * 512;
}
