import { CHUNK_BLOCKS } from "../../core/frisbee/constants.js";
import { chunksOf, type FrisbeeBuilt } from "./install.js";

export interface FrisbeeStats {
  clients: number;
  finished: number;
  runtimeSecMean: number;
  runtimeSecMin: number;
  runtimeSecMax: number;
  /** Blocks the servers sent beyond one copy of the image, as a share of the image. */
  duplicateDataPct: number;
  /** Blocks clients received that they already had, as a share of what they received. */
  clientDuplicatePct: number;
  serverMbps: number;
  serverCtrlMsgsPerSec: number;
  heartbeatsReceived: number;
  heartbeatsLost: number;
}

const round = (v: number, digits = 3): number => Math.round(v * 10 ** digits) / 10 ** digits;

export function frisbeeStats(f: FrisbeeBuilt): FrisbeeStats {
  const runtimes = f.clients.filter((l) => l.client.state === "done").map((l) => (l.client.counters.doneAtUs - l.startUs) / 1e6);
  let received = 0;
  let dups = 0;
  for (const l of f.clients) {
    received += l.client.counters.blocksReceived + l.client.counters.dupBlocks;
    dups += l.client.counters.dupBlocks;
  }
  let blocksSent = 0;
  let imageBlocks = 0;
  let control = 0;
  let activeUs = 0;
  let reports = 0;
  let lost = 0;
  const counted = new Set<number>();
  for (const life of f.servers) {
    const index = f.decl.servers.indexOf(life.decl);
    if (!counted.has(index)) imageBlocks += chunksOf(f, index) * CHUNK_BLOCKS;
    counted.add(index);
    const st = life.server.stats;
    blocksSent += st.blocksSent;
    control += st.controlReceived - st.progressReports;
    reports += st.progressReports;
    lost += st.progressLost;
    const t = life.blockSendsUs;
    if (t.length > 1) activeUs += (t[t.length - 1] as number) - (t[0] as number);
  }
  return summarizeFrisbee({
    clients: f.starts.length,
    runtimesSec: runtimes,
    imageBlocks,
    blocksSent,
    blocksReceived: received,
    dupBlocks: dups,
    activeSec: activeUs / 1e6,
    controlMessages: control,
    heartbeatsReceived: reports,
    heartbeatsLost: lost,
  });
}

/** What either model counted, before it becomes the figures of a row. */
export interface FrisbeeCounts {
  clients: number;
  /** Runtime of each client that finished. */
  runtimesSec: readonly number[];
  imageBlocks: number;
  blocksSent: number;
  /** Blocks the clients received, duplicates included. */
  blocksReceived: number;
  dupBlocks: number;
  /** From the server's first block to its last. */
  activeSec: number;
  controlMessages: number;
  heartbeatsReceived: number;
  heartbeatsLost: number;
}

/** The row figures of the packet and the chunk model alike (a loop, not a spread: rows hold up to 100,000 clients). */
export function summarizeFrisbee(c: FrisbeeCounts): FrisbeeStats {
  const n = c.runtimesSec.length;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const r of c.runtimesSec) {
    sum += r;
    min = Math.min(min, r);
    max = Math.max(max, r);
  }
  const activeSec = Math.max(c.activeSec, 1e-6);
  return {
    clients: c.clients,
    finished: n,
    runtimeSecMean: n === 0 ? 0 : round(sum / n),
    runtimeSecMin: n === 0 ? 0 : round(min),
    runtimeSecMax: n === 0 ? 0 : round(max),
    duplicateDataPct: c.imageBlocks === 0 ? 0 : round(((c.blocksSent - c.imageBlocks) / c.imageBlocks) * 100, 2),
    clientDuplicatePct: c.blocksReceived === 0 ? 0 : round((c.dupBlocks / c.blocksReceived) * 100, 2),
    serverMbps: round((c.blocksSent * 1024 * 8) / activeSec / 1e6, 2),
    serverCtrlMsgsPerSec: round(c.controlMessages / activeSec, 2),
    heartbeatsReceived: c.heartbeatsReceived,
    heartbeatsLost: c.heartbeatsLost,
  };
}
