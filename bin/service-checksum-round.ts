import type { Controller } from "../real/agent/controller.js";
import { openServiceStore } from "../real/store/index.js";

/**
 * One checksum round through the controller, as `service checksum` runs it and `service sweep
 * --checksum-every` runs it on a schedule: every node's files hashed, the majority of each node
 * set deciding, the result stored, the minority repaired from a majority node if asked. `ok` when
 * every file was decided and no minority is left unrepaired; `json` and `lines` are what to print.
 */
export interface ChecksumRoundOptions {
  readonly service: string;
  readonly repair: boolean;
  /** The store to record the round in, or null. */
  readonly db: string | null;
}

export interface ChecksumRoundResult {
  readonly ok: boolean;
  readonly json: Record<string, unknown>;
  readonly lines: string[];
}

export async function runChecksumRound(c: Controller, o: ChecksumRoundOptions): Promise<ChecksumRoundResult> {
  const reports = await c.checksum();
  if (o.db !== null) {
    const store = openServiceStore(o.db);
    try {
      const roundAt = new Date().toISOString();
      store.saveChecksums(reports.map((r) => ({ service: o.service, roundAt, nodeSet: r.nodeSet, file: r.file, decided: r.verdict.decided, supporters: r.verdict.supporters, expected: r.verdict.expected, minority: r.minority })));
    } finally {
      store.close();
    }
  }
  const repairs = o.repair ? await c.repair(reports) : [];
  const json = { service: o.service, files: reports.map((r) => ({ nodeSet: r.nodeSet, file: r.file, decided: r.verdict.decided, supporters: r.verdict.supporters, expected: r.verdict.expected, minority: r.minority, silent: r.silent, source: r.source })), ...(o.repair ? { repairs } : {}) };
  const lines = reports.map((r) => {
    const what = r.verdict.decided === null ? `NO QUORUM (best ${r.verdict.supporters} of ${r.verdict.expected})` : `${r.verdict.decided.slice(0, 12)} on ${r.verdict.supporters} of ${r.verdict.expected}`;
    return `${r.nodeSet}/${r.file}: ${what}${r.minority.length > 0 ? `; minority: ${r.minority.join(" ")}` : ""}${r.silent.length > 0 ? `; silent: ${r.silent.join(" ")}` : ""}`;
  });
  for (const r of repairs) lines.push(`  repair ${r.node} ${r.nodeSet}/${r.file}: ${r.ok ? "repaired" : "NOT REPAIRED"}: ${r.detail}`);
  // With repair, a minority that was repaired is no longer a failure; without a quorum nothing is decided.
  const fixed = new Set(repairs.filter((r) => r.ok).map((r) => `${r.nodeSet}\0${r.file}\0${r.node}`));
  return { ok: reports.every((r) => r.verdict.decided !== null && r.minority.every((n) => fixed.has(`${r.nodeSet}\0${r.file}\0${n}`))), json, lines };
}
