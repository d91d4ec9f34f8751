import type { FileHandle } from "node:fs/promises";
import { checkOutput, type CheckOptions } from "./check.js";
import { openInPlace } from "./in-place.js";
import { openOutput } from "./output.js";

/**
 * Where a disk is restored (image unzip, the frisbee client): a file written whole under a
 * temporary name and renamed into place on success, or a block device (or, with `fixedSize`, an
 * existing file) written in place. The caller writes through `fd` either way.
 */
export interface DiskTarget {
  readonly path: string;
  readonly fh: FileHandle;
  /** `fh.fd`, for synchronous and callback-style I/O. */
  readonly fd: number;
  /** What the target holds: a device's or fixed file's size, or Infinity for a file that grows. */
  readonly capacityBytes: number;
  /** Written in place: a failure after `markWritten` leaves it incomplete. */
  readonly inPlace: boolean;
  readonly isBlockDevice: boolean;
  /** Call before the first write (only matters in place). */
  markWritten(): void;
  /** Success: a file is synced and renamed into place, a device synced. */
  finish(): Promise<void>;
  /** Failure: a file's temporary copy is removed; true if an in-place target was written and is incomplete. */
  abandon(): Promise<boolean>;
}

export interface DiskTargetOptions extends CheckOptions {
  /** Write an existing regular file in place, as a disk of its present size. */
  readonly fixedSize?: boolean;
}

/** Checks the target (see checkOutput) and opens it the way its kind asks. */
export async function openDiskTarget(path: string, o: DiskTargetOptions = {}): Promise<DiskTarget> {
  const what = o.what ?? "target";
  const checked = checkOutput(path, { ...o, what });
  if (checked.kind === "block-device" || o.fixedSize === true) {
    const t = await openInPlace(path, { ...o, what });
    return {
      path,
      fh: t.fh,
      fd: t.fh.fd,
      capacityBytes: t.sizeBytes,
      inPlace: true,
      isBlockDevice: t.isBlockDevice,
      markWritten: () => t.markWritten(),
      finish: () => t.finish(),
      abandon: () => t.abandon(),
    };
  }
  const out = await openOutput(path, { ...o, what });
  return {
    path,
    fh: out.fh,
    fd: out.fh.fd,
    capacityBytes: Infinity,
    inPlace: false,
    isBlockDevice: false,
    markWritten: () => {},
    finish: () => out.commit(),
    abandon: async () => {
      await out.discard();
      return false;
    },
  };
}
