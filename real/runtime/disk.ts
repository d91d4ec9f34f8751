import { closeSync, constants, fstatSync, fsync, openSync, read, readFileSync, write } from "node:fs";
import type { Disk } from "../../core/engine/index.js";

export type DiskDone = (op: number, error: string | null, data?: Uint8Array) => void;

/** Zero bytes written at a time when a machine asks for a run of zeros. */
const ZERO_WRITE_BYTES = 1 << 20;
const ZEROS = new Uint8Array(ZERO_WRITE_BYTES);

/**
 * The Disk port on a file or block device, with positioned reads and writes (libuv's thread
 * pool). Completions come back as `done(op, ...)` on the event loop, never inside the call.
 */
export class FileDisk implements Disk {
  readonly stats = { writes: 0, writeBytes: 0, reads: 0, readBytes: 0 };

  constructor(
    private readonly fd: number,
    readonly sizeBytes: number,
    private readonly done: DiskDone,
  ) {}

  write(op: number, offset: number, data: Uint8Array | number): void {
    if (typeof data === "number") {
      this.writeZeros(op, offset, data);
      return;
    }
    this.stats.writes++;
    this.writeAll(data, offset, (error) => {
      if (error === null) this.stats.writeBytes += data.byteLength;
      this.done(op, error);
    });
  }

  read(op: number, offset: number, length: number): void {
    this.stats.reads++;
    const out = new Uint8Array(length);
    read(this.fd, out, 0, length, offset, (error, bytesRead) => {
      if (error !== null) return this.done(op, error.message);
      this.stats.readBytes += bytesRead;
      // Past the end reads as zeros, as a disk's unwritten space would.
      this.done(op, null, out);
    });
  }

  private writeZeros(op: number, offset: number, length: number): void {
    const step = (at: number): void => {
      if (at >= length) return this.done(op, null);
      const piece = ZEROS.subarray(0, Math.min(ZERO_WRITE_BYTES, length - at));
      this.writeAll(piece, offset + at, (error) => (error === null ? step(at + piece.byteLength) : this.done(op, error)));
    };
    this.stats.writes++;
    step(0);
  }

  /** Writes all of `data`, continuing after short writes. */
  private writeAll(data: Uint8Array, offset: number, then: (error: string | null) => void): void {
    write(this.fd, data, 0, data.byteLength, offset, (error, written) => {
      if (error !== null) return then(error.message);
      if (written < data.byteLength) return this.writeAll(data.subarray(written), offset + written, then);
      then(null);
    });
  }
}

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error === null ? resolve() : reject(error))));
}

/** A target that cannot be opened or is not a file or block device: one line for the user. */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetError";
  }
}

export interface OpenedTarget {
  fd: number;
  /** What the target can hold: a block device's size, a fixed file's size, or Infinity for a file that may grow. */
  capacityBytes: number;
  isBlockDevice: boolean;
}

/**
 * Opens a file (created if missing) or a block device for writing. A block device holds what its
 * size says; a regular file grows as written unless `fixedSize` (a disk image file of set size).
 */
export function openTarget(path: string, fixedSize: boolean): OpenedTarget {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (error) {
    throw new TargetError(`cannot open target ${path}: ${(error as { code?: string }).code ?? String(error)}`);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (st.isBlockDevice()) return { fd, capacityBytes: blockDeviceBytes(st.rdev), isBlockDevice: true };
    if (!st.isFile()) throw new TargetError(`target ${path} is neither a regular file nor a block device`);
    return { fd, capacityBytes: fixedSize ? Number(st.size) : Infinity, isBlockDevice: false };
  } catch (error) {
    closeSync(fd);
    if (error instanceof TargetError) throw error;
    throw new TargetError(`cannot size target ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** fstat says 0 bytes for a block device; /sys has its size in 512-byte sectors. */
function blockDeviceBytes(rdev: bigint): number {
  const major = Number((rdev >> 8n) & 0xfffn);
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xfff00n));
  return Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, "utf8").trim()) * 512;
}
