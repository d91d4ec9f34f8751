import { fstatSync } from "node:fs";
import { openDiskTarget } from "../output/index.js";

/**
 * Where a client writes. A block device, or a file given `--fixed-size`, is written in place (it
 * cannot appear whole): once a write may have reached it, a failed or interrupted load reports it
 * incomplete. Any other file is written under a temporary name beside it and put in place only
 * when the image is complete: a load that fails, times out or is interrupted leaves the old file
 * as it was, or no file at all, never an empty or partial one.
 */
export interface ClientTarget {
  readonly fd: number;
  /** What the target can hold: a device's or fixed file's size, or Infinity for a file that grows. */
  readonly capacityBytes: number;
  /** Call before the first write reaches the target. */
  markWritten(): void;
  /** The image is complete: size a growing file to the image's end, sync, put it in place. */
  finish(imageEndBytes: number): Promise<void>;
  /** The load failed: close, leaving no new file behind. True if a target written in place was touched: it is incomplete. */
  abandon(): Promise<boolean>;
}

export async function openClientTarget(path: string, fixedSize: boolean): Promise<ClientTarget> {
  const t = await openDiskTarget(path, { fixedSize, what: "target" });
  return {
    fd: t.fd,
    capacityBytes: t.capacityBytes,
    markWritten: () => t.markWritten(),
    finish: async (imageEndBytes) => {
      // Free space at the end of a growing file is a hole, not a short file.
      if (!t.inPlace && fstatSync(t.fd).size < imageEndBytes) await t.fh.truncate(imageEndBytes);
      await t.finish();
    },
    abandon: () => t.abandon(),
  };
}
