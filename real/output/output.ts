import { randomBytes } from "node:crypto";
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { checkOutput, type CheckOptions, type CheckedOutput } from "./check.js";
import { OutputError, reasonOf } from "./errors.js";
import { trackTemp, untrackTemp } from "./leftovers.js";

/**
 * An output being written under a temporary name in its target's folder. `commit` makes it appear
 * whole under its name (fsync, then rename); `discard` removes the temporary file. Until one of
 * them, an interrupt removes it too, so the name holds the old file or nothing, never a part.
 */
export interface Output {
  /** The path as given. */
  readonly path: string;
  readonly tempPath: string;
  readonly fh: FileHandle;
  commit(): Promise<void>;
  /** Idempotent; does nothing after a commit. */
  discard(): Promise<void>;
}

/** Name of a temporary file beside `resolved`: hidden, this process's, never an existing file. */
function tempNameFor(resolved: string): string {
  return join(dirname(resolved), `.${basename(resolved)}.testbed-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
}

function createFailure(checked: CheckedOutput, what: string, error: unknown): OutputError {
  return new OutputError(`${checked.path}: cannot write the ${what} in ${dirname(checked.path)} (${reasonOf(error)}); nothing was written`, true);
}

/**
 * Checks the output (see checkOutput) and opens a temporary file for it. Only regular files (or a
 * missing name) are written this way; a block device is a target written in place (openInPlace).
 */
export async function openOutput(path: string, o: CheckOptions = {}): Promise<Output> {
  const what = o.what ?? "output";
  const checked = checkOutput(path, o);
  if (checked.kind === "block-device") throw new OutputError(`${path}: the ${what} is a block device; write a file`, true);
  const tempPath = tempNameFor(checked.resolved);
  let fh: FileHandle;
  try {
    fh = await open(tempPath, "wx", 0o666);
  } catch (error) {
    throw createFailure(checked, what, error);
  }
  trackTemp(tempPath, path);
  try {
    if (checked.mode !== null) await fh.chmod(checked.mode);
  } catch (error) {
    await fh.close().catch(() => undefined);
    removeTemp(tempPath);
    throw createFailure(checked, what, error);
  }
  return new TempOutput(path, checked.resolved, tempPath, fh, what);
}

function removeTemp(tempPath: string): void {
  untrackTemp(tempPath);
  try {
    unlinkSync(tempPath);
  } catch {
    // gone already
  }
}

class TempOutput implements Output {
  private settled = false;

  constructor(
    readonly path: string,
    private readonly resolved: string,
    readonly tempPath: string,
    readonly fh: FileHandle,
    private readonly what: string,
  ) {}

  async commit(): Promise<void> {
    if (this.settled) throw new Error(`output ${this.path}: commit after commit or discard`);
    try {
      await this.fh.sync();
      await this.fh.close();
    } catch (error) {
      await this.discard();
      throw new OutputError(`${this.path}: cannot finish writing the ${this.what} (${reasonOf(error)}); nothing was written`, false);
    }
    // Synchronous, with the registry update, so an interrupt sees either a temporary file to remove or a finished output.
    try {
      renameSync(this.tempPath, this.resolved);
    } catch (error) {
      await this.discard();
      throw new OutputError(`${this.path}: cannot put the ${this.what} in place (${reasonOf(error)}); nothing was written`, false);
    }
    this.settled = true;
    untrackTemp(this.tempPath);
    syncFolder(dirname(this.resolved));
  }

  async discard(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.fh.close().catch(() => undefined);
    removeTemp(this.tempPath);
  }
}

/** Makes a rename durable; a folder that cannot be opened or synced (some file systems) is left to the kernel. */
function syncFolder(folder: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(folder, "r");
    fsyncSync(fd);
  } catch {
    // best effort: the data itself was synced before the rename
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/**
 * Writes `body` into a temporary output and commits it; on any failure the temporary file is
 * removed and the error passes on. The usual way to write an output.
 */
export async function writeOutput<T>(path: string, o: CheckOptions, body: (out: Output) => Promise<T>): Promise<T> {
  const out = await openOutput(path, o);
  try {
    const value = await body(out);
    await out.commit();
    return value;
  } finally {
    await out.discard();
  }
}

/** A whole small output (a chart, a JSON file, one line) written at once, synchronously, the same way. */
export function writeOutputFileSync(path: string, data: string | Uint8Array, o: CheckOptions = {}): void {
  const what = o.what ?? "output";
  const checked = checkOutput(path, o);
  if (checked.kind === "block-device") throw new OutputError(`${path}: the ${what} is a block device; write a file`, true);
  const tempPath = tempNameFor(checked.resolved);
  let fd: number;
  try {
    fd = openSync(tempPath, "wx", 0o666);
  } catch (error) {
    throw createFailure(checked, what, error);
  }
  trackTemp(tempPath, path);
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  try {
    if (checked.mode !== null) fchmodSync(fd, checked.mode);
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    removeTemp(tempPath);
    throw new OutputError(`${path}: cannot write the ${what} (${reasonOf(error)}); nothing was written`, false);
  }
  closeSync(fd);
  try {
    renameSync(tempPath, checked.resolved);
  } catch (error) {
    removeTemp(tempPath);
    throw new OutputError(`${path}: cannot put the ${what} in place (${reasonOf(error)}); nothing was written`, false);
  }
  untrackTemp(tempPath);
  syncFolder(dirname(checked.resolved));
}
