/**
 * The node-configuration answers of Emulab's tmcd, as lines of `KEY=value` words, and their
 * parsing by exact key (a pattern like `.*PART=` once matched `BOOTPART=` and broke a client).
 * The server side picks the data from the store; this file only formats and parses.
 */

export const NODECONFIG_COMMANDS = ["loadinfo", "syncserver", "ready", "readycount", "nodeid"] as const;
export type NodeConfigCommand = (typeof NODECONFIG_COMMANDS)[number];

/** Longest request line a server reads; anything longer is refused unread. */
export const REQUEST_BYTES_MAX = 256;
/** The original sync server's port: the SYNCSERVER answer names a port only when it differs. */
export const DEFAULT_SYNC_PORT = 16534;

export interface LoadInfo {
  readonly group: string;
  readonly port: number;
  readonly partition: number;
  readonly os: string;
  readonly disk: string;
  readonly zeroFill: boolean;
  readonly project: string;
  readonly imageName: string;
  readonly chunks: number;
  /** The site variable images/frisbee/heartbeat; 0 leaves HEARTBEAT out, as the original does. */
  readonly heartbeatSec: number;
  /** Our extension: the node's saved delta to lay over the base after loading it. */
  readonly delta: string | null;
}

export function loadInfoLine(l: LoadInfo): string {
  const words = [
    `ADDR=${l.group}:${l.port}`,
    `PART=${l.partition}`,
    `PARTOS=${l.os}`,
    `DISK=${l.disk}`,
    `ZFILL=${l.zeroFill ? 1 : 0}`,
    `IMAGEID=${l.project},${l.project},${l.imageName}`,
    `IMAGECHUNKS=${l.chunks}`,
  ];
  if (l.heartbeatSec > 0) words.push(`HEARTBEAT=${l.heartbeatSec}`);
  if (l.delta !== null) words.push(`DELTA=${l.delta}`);
  return words.join(" ");
}

export interface SyncServerInfo {
  readonly server: string;
  readonly port: number;
  readonly isServer: boolean;
}

/** `SYNCSERVER SERVER='host' ISSERVER=0|1`, with the original's quotes; PORT only when not 16534. */
export function syncServerLine(s: SyncServerInfo | null): string {
  if (s === null) return "";
  const port = s.port === DEFAULT_SYNC_PORT ? "" : ` PORT=${s.port}`;
  return `SYNCSERVER SERVER='${s.server}' ISSERVER=${s.isServer ? 1 : 0}${port}`;
}

export function readyCountLine(ready: number, total: number): string {
  return `READY=${ready} TOTAL=${total}`;
}

/** A line's `KEY=value` words by exact key; a value may be in single quotes. Words without `=` are skipped. */
export function parseKeyValues(line: string): Map<string, string> {
  const out = new Map<string, string>();
  const pattern = /([A-Za-z_][A-Za-z0-9_]*)=('([^']*)'|\S*)/g;
  for (const m of line.matchAll(pattern)) {
    // Only at the start of a word: "BOOTPART=2" must never be read as PART.
    const at = m.index ?? 0;
    if (at > 0 && !/\s/.test(line[at - 1] as string)) continue;
    const key = m[1] as string;
    if (!out.has(key)) out.set(key, m[3] ?? (m[2] as string));
  }
  return out;
}

export type ParsedRequest = { readonly ok: true; readonly command: NodeConfigCommand } | { readonly ok: false; readonly why: string };

/** A request line: one command word, optionally after the tmcc's `VERSION=n` word. */
export function parseRequest(line: string): ParsedRequest {
  const words = line.trim().split(/\s+/).filter((w) => w !== "" && !/^VERSION=\d+$/.test(w));
  if (words.length !== 1) return { ok: false, why: words.length === 0 ? "empty request" : `expected one command, got ${words.length} words` };
  const command = (words[0] as string).toLowerCase();
  if (!(NODECONFIG_COMMANDS as readonly string[]).includes(command)) return { ok: false, why: `unknown command "${command.slice(0, 32)}"` };
  return { ok: true, command: command as NodeConfigCommand };
}

export interface ParsedLoadInfo {
  readonly group: string;
  readonly port: number;
  readonly partition: number;
  readonly heartbeatSec: number;
  readonly imageName: string;
  readonly delta: string | null;
}

/** The fields a loader needs from one loadinfo line, or why the line does not give them. */
export function parseLoadInfo(line: string): ParsedLoadInfo | string {
  const kv = parseKeyValues(line);
  const addr = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(kv.get("ADDR") ?? "");
  if (addr === null) return `loadinfo: ADDR is not group:port in "${line.slice(0, 80)}"`;
  const port = Number(addr[2]);
  const partText = kv.get("PART") ?? "";
  const partition = /^\d{1,3}$/.test(partText) ? Number(partText) : NaN;
  if (!(port >= 1 && port <= 65_535)) return `loadinfo: port ${addr[2]} is out of range`;
  // The pattern above admits digits only: anything else, a sign included, is NaN here.
  if (!Number.isInteger(partition)) return `loadinfo: PART is not a partition number in "${line.slice(0, 80)}"`;
  const heartbeat = kv.has("HEARTBEAT") ? Number(kv.get("HEARTBEAT")) : 0;
  if (!Number.isInteger(heartbeat) || heartbeat < 0) return `loadinfo: HEARTBEAT is not whole seconds`;
  const imageId = (kv.get("IMAGEID") ?? "").split(",");
  return { group: addr[1] as string, port, partition, heartbeatSec: heartbeat, imageName: imageId[2] ?? "", delta: kv.get("DELTA") ?? null };
}

export function parseSyncServer(line: string): SyncServerInfo | null {
  if (!line.startsWith("SYNCSERVER ")) return null;
  const kv = parseKeyValues(line);
  const server = kv.get("SERVER");
  const isServer = kv.get("ISSERVER");
  if (server === undefined || server === "" || (isServer !== "0" && isServer !== "1")) return null;
  const port = kv.has("PORT") ? Number(kv.get("PORT")) : DEFAULT_SYNC_PORT;
  if (!(Number.isInteger(port) && port >= 1 && port <= 65_535)) return null;
  return { server, port, isServer: isServer === "1" };
}
