import { readFileSync, readdirSync, readlinkSync } from "node:fs";

/**
 * Datagrams the kernel dropped on this process's own UDP sockets, mostly for a full receive buffer
 * (a process the machine did not schedule in time): the `drops` column of /proc/net/udp for the
 * sockets /proc/self/fd holds. Unlike the host's RcvbufErrors it counts no other program's loss.
 * Null where /proc is not readable (not Linux) or the process holds no UDP socket. Read it before
 * the sockets close: a closed socket's row is gone.
 */
export function ownUdpDrops(): number | null {
  try {
    const inodes = ownSocketInodes(readdirSync("/proc/self/fd").map((fd) => safeReadlink(`/proc/self/fd/${fd}`)));
    const found = udpDropsOf(readFileSync("/proc/self/net/udp", "utf8"), inodes);
    return found.sockets === 0 ? null : found.drops;
  } catch {
    return null;
  }
}

/** The socket inodes among fd link targets (`socket:[12345]`). */
export function ownSocketInodes(links: readonly (string | null)[]): Set<number> {
  const inodes = new Set<number>();
  for (const link of links) {
    const m = link === null ? null : /^socket:\[(\d+)\]$/.exec(link);
    if (m !== null) inodes.add(Number(m[1]));
  }
  return inodes;
}

/**
 * Of a /proc/net/udp text, the rows whose inode is in `inodes`: how many, and their drops summed.
 * A row ends `... inode ref pointer drops` (the header's words do not line up with the columns:
 * "tx_queue rx_queue" is one column, so the columns are counted from the end).
 */
export function udpDropsOf(procNetUdp: string, inodes: ReadonlySet<number>): { sockets: number; drops: number } {
  let sockets = 0;
  let drops = 0;
  for (const line of procNetUdp.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 13) continue;
    const inode = Number(cols[cols.length - 4]);
    const dropped = Number(cols[cols.length - 1]);
    if (!inodes.has(inode) || !Number.isFinite(dropped)) continue;
    sockets++;
    drops += dropped;
  }
  return { sockets, drops };
}

function safeReadlink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    // The fd closed between the listing and the read (readdir's own fd, for one).
    return null;
  }
}
