import { accessSync, constants, lstatSync, realpathSync, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { OutputError, reasonOf } from "./errors.js";

/** What is at an output's path now, after following links. */
export type OutputKind = "missing" | "file" | "block-device";

export interface CheckedOutput {
  /** The path as the user gave it, for messages. */
  readonly path: string;
  /** Where the bytes go: the path with every symbolic link followed (a link is written through, not replaced). */
  readonly resolved: string;
  readonly kind: OutputKind;
  /** The existing file's permission bits, kept by a replacement. */
  readonly mode: number | null;
}

export interface CheckOptions {
  /** Files the command reads; the output may be none of them (same device and inode, links followed). */
  readonly inputs?: readonly string[];
  /** What the output is, for messages: "image", "chart", "target". */
  readonly what?: string;
}

/**
 * Everything that can be known to be wrong with an output before anything is opened: it is one of
 * the inputs, a directory, a dangling link, write-protected, or its folder is missing. Throws an
 * OutputError (bad input) naming the path; returns where to write and what is there.
 */
export function checkOutput(path: string, o: CheckOptions = {}): CheckedOutput {
  const what = o.what ?? "output";
  if (path === "") throw new OutputError(`the ${what} path is empty`, true);
  const link = lstatOrNull(path, what);
  if (link === null) {
    checkFolder(path, what);
    return { path, resolved: resolve(path), kind: "missing", mode: null };
  }
  let st: Stats;
  try {
    st = statSync(path);
  } catch (error) {
    throw new OutputError(`${path}: the ${what} is a symbolic link that cannot be followed (${reasonOf(error)}); nothing was written`, true);
  }
  for (const input of o.inputs ?? []) {
    const other = statOrNull(input);
    if (other !== null && other.dev === st.dev && other.ino === st.ino) {
      throw new OutputError(`${path}: the ${what} is the same file as the input ${input}; nothing was written`, true);
    }
  }
  if (st.isDirectory()) throw new OutputError(`${path}: the ${what} is a directory; give a file name`, true);
  const resolved = realpathSync(path);
  if (st.isBlockDevice()) return { path, resolved, kind: "block-device", mode: null };
  if (!st.isFile()) throw new OutputError(`${path}: the ${what} is not a regular file or a block device; nothing was written`, true);
  if (!writable(path, st)) throw new OutputError(`${path}: the ${what} exists and is write-protected; nothing was written`, true);
  return { path, resolved, kind: "file", mode: st.mode & 0o7777 };
}

/**
 * A folder a command writes files into (collected logs): it may be missing (the command makes it)
 * if its own folder exists; if present it must be a folder the user may write. Checked before any
 * work, so a file or a protected folder given by mistake costs nothing. Throws an OutputError.
 */
export function checkOutputFolder(path: string, what: string): void {
  if (path === "") throw new OutputError(`the ${what} path is empty`, true);
  if (lstatOrNull(path, what) === null) return checkFolder(path, what);
  let st: Stats;
  try {
    st = statSync(path);
  } catch (error) {
    throw new OutputError(`${path}: the ${what} is a symbolic link that cannot be followed (${reasonOf(error)}); nothing was written`, true);
  }
  if (!st.isDirectory()) throw new OutputError(`${path}: the ${what} is not a folder; nothing was written`, true);
  if (!writable(path, st)) throw new OutputError(`${path}: the ${what} is write-protected; nothing was written`, true);
}

function lstatOrNull(path: string, what: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    throw new OutputError(`${path}: cannot use as the ${what} (${reasonOf(error)})`, true);
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function checkFolder(path: string, what: string): void {
  const folder = dirname(resolve(path));
  let st: Stats;
  try {
    st = statSync(folder);
  } catch (error) {
    throw new OutputError(`${path}: cannot write the ${what}: folder ${dirname(path)} ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : `cannot be used (${reasonOf(error)})`}`, true);
  }
  if (!st.isDirectory()) throw new OutputError(`${path}: cannot write the ${what}: ${dirname(path)} is not a folder`, true);
}

/**
 * Write permission as the user means it: the kernel's answer, and for a file no one may write (mode
 * without any w bit) a refusal even for root, who could; replacing such a file would destroy what
 * its owner protected.
 */
function writable(path: string, st: Stats): boolean {
  if ((st.mode & 0o222) === 0) return false;
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
