import { closeSync, openSync, readSync, statSync } from "node:fs";

/**
 * Up to `maxBytes` of a file from `offset`, with the file's size: what an agent sends for one
 * request when a controller copies a log or a service file in pieces (a reply holds one chunk).
 */
export function readFileChunk(path: string, offset: number, maxBytes: number): { size: number; data: Buffer } {
  const size = statSync(path).size;
  const length = Math.max(0, Math.min(maxBytes, size - offset));
  const data = Buffer.alloc(length);
  if (length > 0) {
    const fd = openSync(path, "r");
    try {
      readSync(fd, data, 0, length, offset);
    } finally {
      closeSync(fd);
    }
  }
  return { size, data };
}
