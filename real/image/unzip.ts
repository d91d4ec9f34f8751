import { UNZIP_IN_FLIGHT_DEFAULT } from "./defaults.js";
import { reloadImage, type ReloadOptions, type ReloadResult } from "./reload.js";

export { ImageCorruptError, readImageHeaders, type ImageHeaders } from "./headers.js";

/** An image alone: no delta, so what a reload takes. */
export type UnzipOptions = ReloadOptions;

export type UnzipResult = ReloadResult;

export { UNZIP_IN_FLIGHT_DEFAULT };

/**
 * Restores an image onto a file or block device: `reloadImage` without a delta. Every header is
 * checked before anything is written; then chunks are inflated (several at once, each checksum
 * checked first) and written strictly in order, relocations applied. A file target appears whole
 * or not at all; a block device (or a `fixedSize` file) is written in place, and a failure part
 * way says the target is incomplete.
 */
export function unzipImage(imagePath: string, targetPath: string, o: UnzipOptions): Promise<UnzipResult> {
  return reloadImage(imagePath, null, targetPath, { inFlight: UNZIP_IN_FLIGHT_DEFAULT, ...o });
}
