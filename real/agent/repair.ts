import { ChecksumRound, MISSING, request } from "../../core/service/index.js";
import { wallClock } from "../runtime/clock.js";
import type { ChecksumReport, Controller } from "./controller.js";

/**
 * The checksum sweep on real agents: the core `ChecksumRound` per node set (the majority of all
 * the nodes asked decides, file by file; silence is no vote), and the repair of the minority from
 * a node of the majority. A repair copies the file, chunk by chunk, from the majority node the
 * round named (`source`) into the minority node's staging area, where the agent checks it against
 * the majority's digest, then puts it in place of the bad copy (a temporary name, renamed over it).
 * Nothing is repaired without a decision, a missing file is not deleted where the majority lacks
 * it, and a node on another version than the source is left to a rollout or the sweep (copying one
 * file of another release into it would mix versions).
 */
export interface RepairResult {
  readonly nodeSet: string;
  readonly file: string;
  readonly node: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Repairs at once, across nodes (each node's repairs go one after another). */
export const REPAIR_CONCURRENCY = 8;

export function checksumRound(c: Controller, set: { readonly name: string; readonly nodes: readonly number[] }, files: readonly string[], answerDeadlineMs: number): Promise<ChecksumReport[]> {
  const nodes = [...set.nodes];
  const answered = new Set<number>();
  const versions = new Map<number, string | null>();
  const reports: ChecksumReport[] = [];
  const name = (i: number): string => (c.nodes[i] as { name: string }).name;
  return new Promise((resolve) => {
    const clock = wallClock();
    let timer: NodeJS.Timeout | null = null;
    const round = new ChecksumRound(nodes.map((_, k) => k), files.length, { answerDeadlineUs: answerDeadlineMs * 1000, filesMax: files.length }, {
      ask: (_now, k) => {
        void c.ask(nodes[k] as number, request("checksum", { files: [...files] }), answerDeadlineMs).then(
          (reply) => {
            answered.add(k);
            versions.set(nodes[k] as number, (reply.fields["version"] as string | null) ?? null);
            round.answered(clock.now(), k, reply.fields["digests"] as string[]);
            if (round.done) finish();
          },
          () => {},
        );
      },
      decided: (_now, file, verdict) => {
        // In node-file order, not the order the answers came in, so reports read the same every time.
        const minority = verdict.minority.map((k) => nodes[k] as number).sort((a, b) => a - b);
        const source = verdict.source === null ? null : (nodes[verdict.source] as number);
        reports.push({
          nodeSet: set.name,
          file: files[file] as string,
          verdict,
          minority: minority.map(name),
          silent: nodes.filter((_, k) => !answered.has(k)).map(name),
          source: source === null ? null : name(source),
          indices: { minority, source },
          versions: new Map(versions),
        });
      },
      // The round names the repairs; repairMinorities carries them out once every file is decided.
      repair: () => {},
    });
    const finish = (): void => {
      if (timer !== null) clearTimeout(timer);
      resolve(reports);
    };
    const startedUs = clock.now();
    round.start(startedUs);
    if (round.done) return finish();
    // A timer may fire a little before the deadline by the runtime's clock: poll at the deadline
    // itself at the latest, so the round always decides (with what came) before it resolves.
    timer = setTimeout(() => {
      round.poll(Math.max(clock.now(), startedUs + answerDeadlineMs * 1000));
      finish();
    }, answerDeadlineMs);
  });
}

interface Job {
  readonly report: ChecksumReport;
  readonly node: number;
}

export async function repairMinorities(c: Controller, reports: readonly ChecksumReport[]): Promise<RepairResult[]> {
  const results: RepairResult[] = [];
  const jobs = new Map<number, Job[]>();
  const name = (i: number): string => (c.nodes[i] as { name: string }).name;
  for (const report of reports) {
    const { source } = report.indices;
    if (report.verdict.decided === null || source === null) continue;
    for (const node of report.indices.minority) {
      const result = (ok: boolean, detail: string): RepairResult => ({ nodeSet: report.nodeSet, file: report.file, node: name(node), ok, detail });
      const mine = report.versions.get(node) ?? null;
      const theirs = report.versions.get(source) ?? null;
      if (report.verdict.decided === MISSING) results.push(result(false, `not repaired: the majority has no ${report.file}, and a file is not deleted`));
      else if (mine !== theirs) results.push(result(false, `not repaired: ${name(node)} runs ${mine ?? "no release"}, the majority's copy is of ${theirs ?? "no release"} (a rollout or the sweep brings it over)`));
      else jobs.set(node, [...(jobs.get(node) ?? []), { report, node }]);
    }
  }
  const perNode = [...jobs.values()];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < perNode.length) {
      for (const job of perNode[next++] as Job[]) results.push(await repairOne(c, job));
    }
  };
  await Promise.all(Array.from({ length: Math.min(REPAIR_CONCURRENCY, perNode.length) }, worker));
  return results;
}

/** Copies the source's file into the node's staging area, chunk by chunk, then has it put in place. */
async function repairOne(c: Controller, { report, node }: Job): Promise<RepairResult> {
  const source = report.indices.source as number;
  const digest = report.verdict.decided as string;
  const base = { nodeSet: report.nodeSet, file: report.file, node: (c.nodes[node] as { name: string }).name };
  try {
    let offset = 0;
    let size = -1;
    let staged = false;
    while (!staged && (size < 0 || offset < size)) {
      const chunk = await c.ask(source, request("read", { file: report.file, offset }));
      size = Number(chunk.fields["size"]);
      if (chunk.blob.byteLength === 0 && offset < size) throw new Error(`${report.source}: ${report.file} shrank while it was read`);
      const reply = await c.ask(node, request("stage", { version: String(chunk.fields["version"] ?? ""), tarball: report.file, sha256: digest, offset, total: size }, chunk.blob));
      offset += chunk.blob.byteLength;
      staged = reply.fields["staged"] === true;
    }
    await c.ask(node, request("repair", { file: report.file, sha256: digest }));
    return { ...base, ok: true, detail: `copied from ${report.source} (${size} bytes, sha256 ${digest.slice(0, 12)})` };
  } catch (error) {
    return { ...base, ok: false, detail: (error as Error).message };
  }
}
