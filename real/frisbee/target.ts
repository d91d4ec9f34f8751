import { closeSync, fstatSync } from "node:fs";
import { checkOutput, openOutput } from "../output/index.js";
import { fsyncFd, openTarget } from "../runtime/index.js";

/**
 * Where a client writes. A block device, or a file given `--fixed-size`, is written in place (it
 * cannot appear whole). Any other file is written under a temporary name beside it and put in
 * place only when the image is complete: a load that fails, times out or is interrupted leaves
 * the old file as it was, or no file at all, never an empty or partial one.
 */
export interface ClientTarget {
  readonly fd: number;
  /** What the target can hold: a device's or fixed file's size, or Infinity for a file that grows. */
  readonly capacityBytes: number;
  /** The image is complete: size a growing file to the image's end, sync, put it in place. */
  finish(imageEndBytes: number): Promise<void>;
  /** The load failed: close, leaving no new file behind. */
  abandon(): Promise<void>;
}

export async function openClientTarget(path: string, fixedSize: boolean): Promise<ClientTarget> {
  if (fixedSize || checkOutput(path, { what: "target" }).kind === "block-device") {
    const t = openTarget(path, fixedSize);
    return {
      fd: t.fd,
      capacityBytes: t.capacityBytes,
      finish: async () => {
        await fsyncFd(t.fd);
        closeSync(t.fd);
      },
      abandon: async () => closeSync(t.fd),
    };
  }
  const out = await openOutput(path, { what: "target" });
  return {
    fd: out.fh.fd,
    capacityBytes: Infinity,
    finish: async (imageEndBytes) => {
      // Free space at the end is a hole, not a short file.
      if (fstatSync(out.fh.fd).size < imageEndBytes) await out.fh.truncate(imageEndBytes);
      await out.commit();
    },
    abandon: () => out.discard(),
  };
}
