import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { OutputError, checkOutput, reasonOf, writeOutputFileSync } from "../output/index.js";

/** Where a node keeps its sync server's name, as the original does. */
export const DEFAULT_SYNCSERVER_FILE = "/var/emulab/boot/syncserver";

/** The file could not be read or holds no `host[:port]`: reported as one line. */
export class SyncServerFileError extends Error {
  override readonly name = "SyncServerFileError";
}

export interface ServerAddress {
  host: string;
  port: number | null;
}

/** Parses `host[:port]` (also the form of `-s`); null if it is not one. */
export function parseServerAddress(text: string): ServerAddress | null {
  const m = /^([A-Za-z0-9][A-Za-z0-9.-]*)(?::(\d{1,5}))?$/.exec(text.trim());
  if (m === null) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && (port < 1 || port > 65_535)) return null;
  return { host: m[1] as string, port };
}

/** Text fit for a terminal: control characters and undecodable bytes of a binary file shown as "?". */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, "?");
}

export function readSyncServerFile(path: string): ServerAddress {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new SyncServerFileError(`${path}: ${code === "ENOENT" ? "no such file (give -s SERVER or write the file)" : `cannot read (${code})`}`);
  }
  const line = text.split("\n")[0] ?? "";
  const address = parseServerAddress(line);
  if (address === null) throw new SyncServerFileError(`${path}: expected host[:port], got "${printable(line.slice(0, 80))}"`);
  return address;
}

/**
 * Refuses a path the file cannot be written at (a directory, a write-protected file), before
 * anything else is done. A missing folder is fine: it is made, as a node's boot folder would be.
 */
export function checkSyncServerFile(path: string, inputs: readonly string[] = []): void {
  if (existsSync(dirname(path))) checkOutput(path, { what: "syncserver file", inputs });
}

/** Writes the file whole (temporary file, then rename), so a reader never sees half of it. */
export function writeSyncServerFile(path: string, address: ServerAddress, inputs: readonly string[] = []): void {
  checkSyncServerFile(path, inputs);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new OutputError(`${path}: cannot make its folder ${dirname(path)} (${reasonOf(error)}); nothing was written`, true);
  }
  writeOutputFileSync(path, `${address.host}${address.port === null ? "" : `:${address.port}`}\n`, { what: "syncserver file", inputs });
}
