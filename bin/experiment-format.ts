import type { ExperimentRow, ExperimentSummary, LiveNode } from "../real/store/index.js";
import type { SwapResult } from "../scenarios/experiment/swap.js";

const MIB = 2 ** 20;
/** Phases in the order a reader wants them: trouble first. */
const PHASE_ORDER = ["failed", "kept", "loading", "waiting", "booting", "setup", "saving", "releasing", "ready", "released", ""];

export function formatList(list: readonly ExperimentSummary[]): string {
  const lines = [`${"name".padEnd(24)} ${"state".padEnd(13)} ${"world".padEnd(5)} ${"nodes".padStart(6)} ${"ready".padStart(6)}  updated`];
  for (const e of list) {
    lines.push(`${e.name.padEnd(24)} ${e.state.padEnd(13)} ${(e.world ?? "-").padEnd(5)} ${String(e.nodes).padStart(6)} ${String(e.ready).padStart(6)}  ${e.updatedAt || e.createdAt}`);
  }
  return lines.join("\n");
}

export function formatExperiment(row: ExperimentRow, nodeRows: number): string {
  const lines = [`experiment ${row.name}: ${row.state}${row.reason === "" ? "" : ` (${row.reason})`}`];
  const server = row.spec === null ? (row.syncServer ?? "first node") : (row.spec.syncServer ?? "none");
  lines.push(`world: ${row.world ?? "-"}   nodes: ${row.nodes.length}   sync server: ${server}   save disk state: ${row.saveDiskState ? "yes" : "no"}   updated: ${row.updatedAt || row.createdAt}`);
  const ready = row.nodes.filter((n) => n.ready).length;
  const failed = row.nodes.filter((n) => n.phase === "failed").length;
  lines.push(`barrier boot: ${ready}/${row.nodes.length - failed} ready`);
  const phases = new Map<string, number>();
  for (const n of row.nodes) phases.set(n.phase || "-", (phases.get(n.phase || "-") ?? 0) + 1);
  lines.push(`phases: ${[...phases].map(([p, c]) => `${p} ${c}`).join(", ")}`);
  if (row.clockUs > 0) lines.push(`clock: ${(row.clockUs / 1e6).toFixed(1)} s${row.secondsLeft === null ? "" : `   time left: ${row.secondsLeft.toFixed(1)} s`}`);
  if (nodeRows > 0) lines.push(...nodeTable(row, nodeRows));
  return lines.join("\n");
}

function nodeTable(row: ExperimentRow, max: number): string[] {
  const rank = (n: LiveNode): number => {
    const i = PHASE_ORDER.indexOf(n.phase);
    return i < 0 ? PHASE_ORDER.length : i;
  };
  const shown = [...row.nodes].sort((a, b) => rank(a) - rank(b)).slice(0, max);
  const lines = [`${"node".padEnd(12)} ${"phase".padEnd(9)} ${"pnode".padEnd(8)} ${"try".padStart(3)} ${"written MiB".padStart(15)} ${"left s".padStart(7)} ${"heard s ago".padStart(11)}  reason`];
  for (const n of shown) {
    const written = n.imageBytes > 0 ? `${(n.bytesWritten / MIB).toFixed(1)}/${(n.imageBytes / MIB).toFixed(1)}` : "-";
    const left = n.secondsLeft === null ? "-" : n.secondsLeft.toFixed(1);
    const heard = n.lastReportUs === null ? "-" : ((row.clockUs - n.lastReportUs) / 1e6).toFixed(1);
    lines.push(`${n.node.padEnd(12)} ${(n.phase || "-").padEnd(9)} ${(n.pnode || "-").padEnd(8)} ${String(n.attempt).padStart(3)} ${written.padStart(15)} ${left.padStart(7)} ${heard.padStart(11)}  ${n.reason}`);
  }
  if (row.nodes.length > max) lines.push(`... ${row.nodes.length - max} more (--nodes N, or --json)`);
  return lines;
}

/** The summary table of a swap: outcome, per-phase times, retries, and where it is recorded. */
export function formatSwapResult(r: SwapResult, db: string): string {
  const s = r.summary;
  const world = r.world === "sim" ? `simulated, seed ${r.seed}` : "real nodes";
  const lines = [`${r.action} of ${r.experiment} (${world}): ${r.state} — ${r.reason}`];
  const row = (phase: string, f: { nodes: number; meanSec: number; maxSec: number } | null, doneAt: number | null): string =>
    `${phase.padEnd(10)} ${f === null ? "".padStart(6) : String(f.nodes).padStart(6)} ${f === null ? "".padStart(8) : f.meanSec.toFixed(2).padStart(8)} ${f === null ? "".padStart(8) : f.maxSec.toFixed(2).padStart(8)} ${doneAt === null ? "-".padStart(10) : doneAt.toFixed(2).padStart(10)}`;
  if (r.action === "swapin") {
    lines.push(`${"phase".padEnd(10)} ${"nodes".padStart(6)} ${"mean s".padStart(8)} ${"max s".padStart(8)} ${"all by s".padStart(10)}`);
    lines.push(row("load", s.phases.load, s.milestones.allLoadedSec));
    lines.push(row("boot", s.phases.boot, s.milestones.allBootedSec));
    lines.push(row("setup", s.phases.setup, s.milestones.barrierSec));
    lines.push(row("barrier", null, s.milestones.barrierSec));
  }
  const c = (r.extra as { counters?: { heartbeats?: number; heartbeatsLost?: number; crashes?: number } }).counters ?? {};
  const hb = `${c.heartbeats === undefined ? "" : `; heartbeats ${c.heartbeats} (${c.heartbeatsLost ?? 0} lost)`}${c.crashes === undefined ? "" : `; crashes ${c.crashes}`}`;
  lines.push(`nodes ${s.nodes}: ready ${s.ready}, failed ${s.failed}, replaced ${s.replaced}; retries: load ${s.retries.load}, boot ${s.retries.boot}, setup ${s.retries.setup}, save ${s.retries.save}${hb}`);
  lines.push(`${r.world === "sim" ? `simulated ${r.simSeconds} s, ` : ""}wall ${r.wallSeconds} s; ${r.world === "sim" ? `trace ${r.fingerprint}; ` : ""}${r.eventsStored} events stored as run ${r.runId} in ${db}`);
  return lines.join("\n");
}
