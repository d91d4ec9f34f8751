import { readFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { reasonOf } from "../output/index.js";
import { realpathSync, statSync } from "node:fs";
import { ImageIoError } from "./errors.js";

export { ImageIoError };

/** A file's or block device's size in bytes (block devices report 0 in stat; sysfs knows). */
export function sourceSizeBytes(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (error) {
    throw new ImageIoError(`${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or device" : reasonOf(error)}`, true);
  }
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) {
    const name = basename(realpathSync(path));
    try {
      return Number(readFileSync(`/sys/class/block/${name}/size`, "utf8").trim()) * 512;
    } catch {
      throw new ImageIoError(`${path}: cannot find the size of block device ${name} in /sys/class/block`, true);
    }
  }
  throw new ImageIoError(`${path}: ${st.isDirectory() ? "is a directory, not" : "not"} a regular file or block device`, true);
}

/** Reads exactly `length` bytes at `position` into `buf` (short reads are retried; EOF is an error). */
export async function readFully(fh: FileHandle, buf: Uint8Array, length: number, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new ImageIoError(`${what}: unexpected end of input at byte ${position + done}`);
    done += bytesRead;
  }
}

/** Writes all of `data` at `position`. */
export async function writeFully(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
