import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildVersion } from "../../../real/queue/version.js";
import { ScenarioError } from "../../../scenarios/reader.js";
import { readReport } from "../../../scenarios/sweep/files.js";
import { mergeReports } from "../../../scenarios/sweep/merge.js";
import { summarize, type SweepReport } from "../../../scenarios/sweep/report.js";
import { runSeed } from "../../../scenarios/sweep/run-seed.js";
import { shrinkSeed } from "../../../scenarios/sweep/shrink.js";
import { readSweepSpec } from "../../../scenarios/sweep/spec.js";
import { runSweep } from "../../../scenarios/sweep/sweep.js";

export const RACE = fileURLToPath(new URL("../../../scenarios/sweep/examples/idle-exit-race.json", import.meta.url));
export const RACE_VARIES = ["frisbee.clients[1].at=0ms..1500ms", "faults[0]=on|off"];
const dir = mkdtempSync(join(tmpdir(), "testbed-sweep-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sweep = (shard = { index: 1, count: 1 }, seeds = { first: 1, last: 120 }) =>
  runSweep({ file: RACE, seeds, shard, varies: RACE_VARIES, queue: null, threads: 2, version: buildVersion() });

describe("a local sweep", () => {
  let whole: SweepReport;
  beforeAll(async () => {
    whole = (await sweep()).report;
  });

  it("runs every seed once, in seed order, and finds the seeded bug in some of them", () => {
    expect(whole.results.map((r) => r.seed)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    const s = summarize(whole);
    expect(s.counts.fail).toBeGreaterThan(5);
    expect(s.counts.pass).toBeGreaterThan(50);
    expect(s.counts.crash + s.counts.invalid).toBe(0);
    expect(s.ok).toBe(false);
    for (const f of s.failing) {
      expect(f.failed.join()).toMatch(/^frisbee-clients-finish: 1 clients did not finish/);
      // The bug: the late client asks after the server's 1 s idle exit.
      expect(Number(/frisbee\.clients\[1\]\.at=(\d+)ms/.exec(f.drawn.join(" "))?.[1])).toBeGreaterThan(1000);
      expect(f.replay).toBe(`testbed sim ${RACE} --seed ${f.seed} --vary 'frisbee.clients[1].at=0ms..1500ms' --vary 'faults[0]=on|off'`);
    }
  });

  it("gives each seed the run it gives alone: same verdict and trace fingerprint", () => {
    const p = readSweepSpec(RACE, RACE_VARIES, 1);
    for (const r of whole.results.filter((_, i) => i % 17 === 0)) {
      const alone = runSeed(p, r.seed);
      expect({ ...alone, wallMs: 0 }).toEqual({ ...r, wallMs: 0 });
    }
  });

  it("is the same sweep when run as shards and merged", async () => {
    const parts = await Promise.all([1, 2, 3].map(async (index) => (await sweep({ index, count: 3 })).report));
    const files = parts.map((report, i) => {
      const file = join(dir, `shard${i + 1}.json`);
      writeFileSync(file, JSON.stringify(report));
      return { file, report: readReport(file) };
    });
    const merged = mergeReports([files[2]!, files[0]!, files[1]!]);
    const same = (r: SweepReport) => r.results.map((x) => ({ ...x, wallMs: 0 }));
    expect(same(merged)).toEqual(same(whole));
    expect(summarize(merged).fingerprint).toBe(summarize(whole).fingerprint);
    expect(merged.shard).toEqual({ index: 1, count: 1 });
  });

  it("refuses to merge a missing, repeated, foreign or unfinished shard, naming the file", async () => {
    const one = (await sweep({ index: 1, count: 2 })).report;
    const two = (await sweep({ index: 2, count: 2 })).report;
    expect(() => mergeReports([{ file: "a.json", report: one }])).toThrow("sweep merge: shard 2 of 2 missing");
    expect(() => mergeReports([{ file: "a.json", report: one }, { file: "b.json", report: one }])).toThrow("b.json: shard 1/2 is also in a.json");
    expect(() => mergeReports([{ file: "a.json", report: one }, { file: "b.json", report: { ...two, version: "0.0.0+other" } }])).toThrow(/b\.json: run by build 0\.0\.0\+other/);
    expect(() => mergeReports([{ file: "a.json", report: one }, { file: "b.json", report: { ...two, specId: "0000000000000000" } }])).toThrow(/b\.json: a shard of another sweep/);
    expect(() => mergeReports([{ file: "a.json", report: one }, { file: "b.json", report: { ...two, results: two.results.slice(1) } }])).toThrow(
      "b.json: shard 2/2 is incomplete: 1 of its 60 seeds have no result (was it cancelled?)",
    );
  });

  it("reads back a report only when every field checks out", () => {
    const file = join(dir, "report.json");
    writeFileSync(file, JSON.stringify(whole));
    expect(readReport(file)).toEqual(whole);
    const text = readFileSync(file, "utf8");
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.string({ minLength: 1, maxLength: 3 }), (at, junk) => {
        const broken = join(dir, "broken.json");
        writeFileSync(broken, text.slice(0, at) + junk + text.slice(at + 1));
        try {
          readReport(broken);
        } catch (error) {
          expect(error).toBeInstanceOf(ScenarioError);
          expect((error as Error).message.startsWith(`${broken}: `)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("shrinking a failing seed", () => {
  it("keeps the failure while dropping what does not matter and lowering the late start toward the bug's edge", async () => {
    const p = readSweepSpec(RACE, RACE_VARIES, 1);
    const failing = Array.from({ length: 80 }, (_, i) => runSeed(p, i + 1)).filter((r) => r.verdict === "fail");
    // A seed that kept the (harmless) crash fault, so shrinking has something to drop.
    const target = failing.find((r) => summarizeDraw(r.seed).includes("faults[0]=on"))!;
    const shrunk = shrinkSeed(p, target)!;
    expect(shrunk.failed.join()).toMatch(/^frisbee-clients-finish/);
    const at = Number(String((shrunk.json.frisbee as { clients: { at?: string }[] }).clients[1]!.at).replace("ms", ""));
    const drawnAt = Number(/at=(\d+)ms/.exec(summarizeDraw(target.seed))![1]);
    expect(at).toBeLessThan(drawnAt);
    expect(at).toBeGreaterThan(1000);
    expect(shrunk.json.faults ?? []).toEqual([]);
    expect(shrunk.json.seed).toBe(target.seed);
    expect(shrunk.runs).toBeLessThanOrEqual(200);
  });

  it("does not shrink a passing seed", () => {
    const p = readSweepSpec(RACE, RACE_VARIES, 1);
    const pass = Array.from({ length: 20 }, (_, i) => runSeed(p, i + 1)).find((r) => r.verdict === "pass")!;
    expect(shrinkSeed(p, pass)).toBeNull();
  });
});

describe("checking a sweep before it runs", () => {
  it("refuses a range whose end makes the scenario invalid, naming the vary and the field", () => {
    expect(() => readSweepSpec(RACE, ["duration=0s..5s"], 1)).toThrow(/^--vary duration=0s\.\.5s: "0s" makes the scenario invalid: .*duration: a duration must be at least 1/);
    expect(() => readSweepSpec(join(dir, "absent.json"), [], 1)).toThrow(/absent\.json: no such file/);
  });
});

function summarizeDraw(seed: number): string {
  const report: SweepReport = {
    format: "testbed-sweep-1", version: "v", specId: "0", spec: { file: RACE, text: "{}", varies: RACE_VARIES },
    seeds: { first: seed, last: seed }, shard: { index: 1, count: 1 },
    results: [{ seed, verdict: "fail", fingerprint: "", events: 0, simSeconds: 0, failed: [], wallMs: 0 }],
    lost: [], nondeterministic: [], ranOn: "", wallSeconds: 0,
  };
  return summarize(report).failing[0]!.drawn.join(" ");
}
