import { CHUNK_BLOCKS } from "../../core/frisbee/constants.js";
import type { FrisbeeBuilt } from "./build.js";
import { chunksOf } from "./invariants.js";

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
  const activeSec = Math.max(activeUs / 1e6, 1e-6);
  return {
    clients: f.starts.length,
    finished: runtimes.length,
    runtimeSecMean: runtimes.length === 0 ? 0 : round(runtimes.reduce((a, b) => a + b, 0) / runtimes.length),
    runtimeSecMin: runtimes.length === 0 ? 0 : round(Math.min(...runtimes)),
    runtimeSecMax: runtimes.length === 0 ? 0 : round(Math.max(...runtimes)),
    duplicateDataPct: imageBlocks === 0 ? 0 : round(((blocksSent - imageBlocks) / imageBlocks) * 100, 2),
    clientDuplicatePct: received === 0 ? 0 : round((dups / received) * 100, 2),
    serverMbps: round((blocksSent * 1024 * 8) / activeSec / 1e6, 2),
    serverCtrlMsgsPerSec: round(control / activeSec, 2),
    heartbeatsReceived: reports,
    heartbeatsLost: lost,
  };
}
