import { chunksOf, type FrisbeeBuilt } from "../../sim/frisbee/install.js";

/** Requests, partial requests, joins and leaves a server may see per client and chunk before we call control traffic unbounded. */
export const CONTROL_PER_CLIENT_CHUNK_MAX = 4;
export const CONTROL_PER_CLIENT_EXTRA = 20;

/** The last life of each client host (a restart makes a new one). */
function lastLives(f: FrisbeeBuilt): Map<number, FrisbeeBuilt["clients"][number]> {
  const last = new Map<number, FrisbeeBuilt["clients"][number]>();
  for (const life of f.clients) last.set(life.host, life);
  return last;
}

/** Every client that was not told to leave and whose host is up at the end has finished. */
export function clientsFinish(f: FrisbeeBuilt, hostUp: (host: number) => boolean): string | null {
  const last = lastLives(f);
  const unfinished: string[] = [];
  for (const start of f.starts) {
    if (start.decl.leaveAtUs !== null || !hostUp(start.host)) continue;
    const life = last.get(start.host);
    if (life === undefined || life.client.state !== "done") unfinished.push(`host ${start.host} (${life?.client.state ?? "never started"})`);
  }
  return unfinished.length === 0 ? null : `${unfinished.length} clients did not finish: ${unfinished.slice(0, 5).join(", ")}`;
}

/** Every finished client wrote each chunk exactly once, and the image's whole size. */
export function imageExact(f: FrisbeeBuilt): string | null {
  for (const life of f.clients) {
    if (life.client.state !== "done") continue;
    const writes = life.client.chunkWrites();
    const bad = writes.findIndex((n) => n !== 1);
    if (bad >= 0) return `client on host ${life.host} wrote chunk ${bad} ${writes[bad]} times`;
    const expected = f.decl.servers[life.decl.server]!.uncompressedBytes;
    if (life.client.counters.bytesWritten !== expected) {
      return `client on host ${life.host} wrote ${life.client.counters.bytesWritten} bytes, the image is ${expected}`;
    }
  }
  return null;
}

/**
 * Fixed-rate servers keep their pacing: any window of length L holds at most
 * burst * (floor(L / gap) + 1) blocks (a window may straddle two bursts). Checked for L of one gap
 * and of a hundred gaps, so a pacer running even a few percent fast over time is caught.
 */
export function serverRate(f: FrisbeeBuilt): string | null {
  for (const life of f.servers) {
    if (life.decl.dynamic) continue;
    const { burstPackets, burstGapUs } = life.decl.pacing;
    for (const gaps of [1, 100]) {
      const windowUs = gaps * burstGapUs;
      const allowed = burstPackets * (gaps + 1);
      const worst = maxInWindow(life.blockSendsUs, windowUs);
      if (worst.count > allowed) {
        return `server sent ${worst.count} blocks in ${windowUs}us from ${worst.atUs}us, pacing of ${burstPackets} per ${burstGapUs}us allows ${allowed}`;
      }
    }
  }
  return null;
}

/** The most sends in any half-open window [t, t + windowUs), with where it starts. */
export function maxInWindow(sendsUs: readonly number[], windowUs: number): { count: number; atUs: number } {
  let best = { count: 0, atUs: 0 };
  let first = 0;
  for (let last = 0; last < sendsUs.length; last++) {
    while ((sendsUs[last] as number) - (sendsUs[first] as number) >= windowUs) first++;
    if (last - first + 1 > best.count) best = { count: last - first + 1, atUs: sendsUs[first] as number };
  }
  return best;
}

/** Control messages at each server stay within a few per client and chunk (suppression works). */
export function controlBounded(f: FrisbeeBuilt): string | null {
  for (const life of f.servers) {
    const index = f.decl.servers.indexOf(life.decl);
    const clients = f.starts.filter((s) => s.decl.server === index).length;
    const chunks = chunksOf(f, index);
    const st = life.server.stats;
    const control = st.requests + st.prequests + st.joins + st.leaves;
    const bound = CONTROL_PER_CLIENT_CHUNK_MAX * clients * chunks + CONTROL_PER_CLIENT_EXTRA * clients;
    if (control > bound) return `server received ${control} control messages from ${clients} clients for ${chunks} chunks (bound ${bound})`;
  }
  return null;
}
