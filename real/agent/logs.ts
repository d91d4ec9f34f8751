import { closeSync, existsSync, openSync, readdirSync, renameSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { readFileChunk } from "./file-chunk.js";

/**
 * A process's output kept within a fixed space: `NAME.log` grows to LOG_FILE_BYTES_MAX, then
 * becomes NAME.log.1 (the older ones shift up) and the oldest beyond LOG_FILES_KEPT is dropped, so
 * a node holds at most LOG_FILE_BYTES_MAX x (LOG_FILES_KEPT + 1) bytes per process, however long it
 * runs. The controller collects the files centrally (`testbed service logs`).
 */
export const LOG_FILE_BYTES_MAX = 256 * 1024;
export const LOG_FILES_KEPT = 3;
export const LOG_CHUNK_BYTES = 1 << 20;

export class RotatingLog {
  private fd: number;
  private size: number;

  constructor(private readonly dir: string, private readonly name: string) {
    const path = join(dir, `${name}.log`);
    this.fd = openSync(path, "a");
    this.size = statSync(path).size;
  }

  write(data: Buffer): void {
    let rest = data;
    while (rest.byteLength > 0) {
      if (this.size >= LOG_FILE_BYTES_MAX) this.rotate();
      const room = LOG_FILE_BYTES_MAX - this.size;
      const part = rest.subarray(0, room);
      writeSync(this.fd, part);
      this.size += part.byteLength;
      rest = rest.subarray(part.byteLength);
    }
  }

  private rotate(): void {
    closeSync(this.fd);
    const base = join(this.dir, `${this.name}.log`);
    for (let i = LOG_FILES_KEPT; i >= 1; i--) {
      const from = i === 1 ? base : `${base}.${i - 1}`;
      if (existsSync(from)) renameSync(from, `${base}.${i}`);
    }
    this.fd = openSync(base, "w");
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The log files of a node, with their sizes. */
export function listLogs(dir: string): { name: string; size: number }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => /^[A-Za-z0-9._-]+\.log(\.\d+)?$/.test(n))
    .sort()
    .map((name) => ({ name, size: statSync(join(dir, name)).size }));
}

/** Up to LOG_CHUNK_BYTES of a log file from `offset`. */
export function readLogChunk(dir: string, name: string, offset: number): { size: number; data: Buffer } {
  if (!/^[A-Za-z0-9._-]+\.log(\.\d+)?$/.test(name)) throw new Error(`logs: no log file named ${JSON.stringify(name).slice(0, 80)}`);
  const path = join(dir, name);
  if (!existsSync(path)) throw new Error(`logs: no log file named ${name}`);
  return readFileChunk(path, offset, LOG_CHUNK_BYTES);
}
