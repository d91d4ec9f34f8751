import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { FrisbeePlanOptions } from "../../../scenarios/frisbee/plan.js";
import { ScenarioError } from "../../../scenarios/reader.js";
import { readMergeInput } from "../../../scenarios/sweep/files.js";
import {
  decodeFrisbeeCell,
  decodeFrisbeeCellResult,
  decodeMonitorCell,
  decodeMonitorCellResult,
  decodeSwapCell,
  decodeSwapCellResult,
  runFrisbeeCell,
  runMonitorCell,
  runSwapCell,
} from "../../../scenarios/sweep/plan-jobs.js";
import { assembleRows, frisbeeCells, shardCells } from "../../../scenarios/sweep/plan-queue.js";
import { mergePlanShards, PLAN_SHARD_FORMAT, planGrid, type PlanShardFile } from "../../../scenarios/sweep/plan-shards.js";

/** Plan cells as jobs: what a worker accepts, what a submitter accepts back, and shard files. */
const options: FrisbeePlanOptions = {
  clients: [1, 2], losses: [0], lossAt: "receivers", imageMiB: 1, dataMiB: 2, clientMbps: 100,
  pacing: { serverMbps: 72 }, diskMiBs: 60, inflateMiBs: 120, start: { kind: "simultaneous" }, heartbeatUs: 10_000_000, seed: 5, model: "auto",
};
const cell = { options, clients: 2, loss: 0, seed: 5 };
const monitor = { nodes: 50, days: 1, window: 10, flakyPct: 2, passUsMin: 30_000_000, passUsMax: 90_000_000, seed: 3 };
const swapOptions = {
  nodes: [10], deltaPcts: [1], diskGiB: 16, inUsePct: 25, jitterPct: 50, compressRatio: 2.5, diskReadMiBs: 150, diskWriteMiBs: 120, hashMiBs: 600,
  compressMiBs: 60, inflateMiBs: 200, cores: 2, nodeMbps: 1000, serverMbps: 1000, frisbeeMbps: 500, loss: 0, startSpreadSec: 5, seed: 1,
};
const swap = { options: swapOptions, nodes: 10, deltaPct: 1 };
const dir = mkdtempSync(join(tmpdir(), "testbed-plan-jobs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("plan cells as jobs", () => {
  it("accepts a well-formed cell and names the field that is wrong otherwise", () => {
    expect(decodeFrisbeeCell(cell)).toEqual(cell);
    expect(decodeFrisbeeCell({ ...cell, clients: 0 })).toMatch(/^payload\.clients: /);
    expect(decodeFrisbeeCell({ ...cell, options: { ...options, heartbeatUs: 5 } })).toMatch(/^payload\.options\.heartbeatUs: /);
    expect(decodeFrisbeeCell({ ...cell, options: { ...options, pacing: { burst: 0, gapUs: 1 } } })).toMatch(/^payload\.options\.pacing: /);
    expect(decodeMonitorCell(monitor)).toEqual(monitor);
    expect(decodeMonitorCell({ ...monitor, nodes: "50" })).toBe("payload.nodes: expected a number");
    expect(decodeMonitorCell({ ...monitor, nodes: 0 })).toMatch(/^payload: /);
    expect(decodeSwapCell(swap)).toEqual(swap);
    expect(decodeSwapCell({ ...swap, deltaPct: 101 })).toBe("payload.deltaPct: expected a percentage");
    expect(decodeSwapCell({ ...swap, options: { ...swapOptions, cores: 1.5 } })).toBe("payload.options.cores: expected a whole number from 1 to 1024");
  });

  it("counts a result only when it is the cell's, with the job's fingerprint", () => {
    const result = runFrisbeeCell(cell);
    expect(decodeFrisbeeCellResult(result, cell)).toBe(result);
    expect(decodeFrisbeeCellResult(result, { clients: 1, loss: 0 })).toMatch(/^row: expected the row of 1 clients/);
    expect(decodeFrisbeeCellResult({ ...result, fingerprint: "0".repeat(16) }, cell)).toBe("the run's fingerprint is not the job's");
    const m = runMonitorCell(monitor);
    expect(decodeMonitorCellResult(m, 3)).toBe(m);
    expect(decodeMonitorCellResult(m, 4)).toBe("result: malformed, or another seed's");
    const w = runSwapCell(swap);
    expect(decodeSwapCellResult(w, swap)).toBe(w);
    expect(decodeSwapCellResult(w, { nodes: 11, deltaPct: 1 })).toBe("row: expected the row of 11 nodes at 1%");
    expect(decodeSwapCellResult({ ...w, fingerprint: "x" }, swap)).toBe("the row's fingerprint is not the job's");
  });

  it("returns an error line, never throws, for anything at all", () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        for (const decode of [decodeFrisbeeCell, decodeMonitorCell, decodeSwapCell, (x: unknown) => decodeFrisbeeCellResult(x, cell), (x: unknown) => decodeMonitorCellResult(x, 3), (x: unknown) => decodeSwapCellResult(x, swap)]) {
          expect(typeof decode(v)).toBe("string");
        }
      }),
      { numRuns: 2_000 },
    );
    // A good cell with one field replaced by anything: a cell, or a line naming what is wrong.
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(options)), fc.anything(), (field, junk) => {
        const out = decodeFrisbeeCell({ ...cell, options: { ...options, [field]: junk } });
        if (typeof out === "string") expect(out).toMatch(/^payload[.:]/);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("plan shard files", () => {
  const cells = frisbeeCells(options, planGrid(options), 2);
  const results = new Map(cells.map((c) => [c.key, runFrisbeeCell(c)]));
  const shardFile = (index: number): PlanShardFile => ({
    format: PLAN_SHARD_FORMAT, version: "0.1.0+test", options, runs: 2, shard: { index, count: 2 },
    cells: shardCells(cells, { index, count: 2 }).map((c) => ({ key: c.key, result: results.get(c.key)! })),
  });

  it("merges shards into the rows of one run, and refuses a shard of another plan", () => {
    const files = [1, 2].map((k) => {
      const file = join(dir, `shard${k}.json`);
      writeFileSync(file, JSON.stringify(shardFile(k)));
      const input = readMergeInput(file);
      if (input.kind !== "plan-frisbee") throw new Error("not read as a plan shard");
      return { file, shard: input.shard };
    });
    expect(mergePlanShards(files).rows).toEqual(assembleRows(cells, results));
    const other = { ...files[1]!, shard: { ...files[1]!.shard, runs: 1 } };
    expect(() => mergePlanShards([files[0]!, other])).toThrow(/a shard of another plan/);
  });

  it("reads back a shard only when every field checks out, naming the file", () => {
    const file = join(dir, "good.json");
    const text = JSON.stringify(shardFile(1));
    writeFileSync(file, text);
    expect(readMergeInput(file).kind).toBe("plan-frisbee");
    fc.assert(
      fc.property(fc.nat(text.length - 1), fc.string({ minLength: 1, maxLength: 3 }), (at, junk) => {
        const broken = join(dir, "broken.json");
        writeFileSync(broken, text.slice(0, at) + junk + text.slice(at + 1));
        try {
          readMergeInput(broken);
        } catch (error) {
          expect(error).toBeInstanceOf(ScenarioError);
          expect((error as Error).message.startsWith(`${broken}: `)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
    expect(readFileSync(file, "utf8")).toBe(text);
  });
});
