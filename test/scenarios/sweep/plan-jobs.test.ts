import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
import { assembleRows, frisbeeCells, planGrid, shardCells, swapCells, swapRows } from "../../../scenarios/sweep/plan-queue.js";
import { mergePlanShards, PLAN_SHARD_FORMAT, SWAP_SHARD_FORMAT, type FrisbeeShardFile, type PlanShardFile, type SwapShardFile } from "../../../scenarios/sweep/plan-shards.js";
import { breathe } from "../../support/breathe.js";

/** Plan cells as jobs: what a worker accepts, what a submitter accepts back, and shard files. */
const options: FrisbeePlanOptions = {
  clients: [1, 2], losses: [0], lossAt: "receivers", imageMiB: 1, dataMiB: 2, clientMbps: 100,
  pacing: { serverMbps: 72 }, diskMiBs: 60, inflateMiBs: 120, start: { kind: "simultaneous" }, heartbeatUs: 10_000_000, seed: 5, model: "auto",
};
const cell = { options, clients: 2, loss: 0, seed: 5 };
const planOptions = options;
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

  it("returns an error line, never throws, for anything at all", async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything(), async (v) => {
        await breathe();
        for (const decode of [decodeFrisbeeCell, decodeMonitorCell, decodeSwapCell, (x: unknown) => decodeFrisbeeCellResult(x, cell), (x: unknown) => decodeMonitorCellResult(x, 3), (x: unknown) => decodeSwapCellResult(x, swap)]) {
          expect(typeof decode(v)).toBe("string");
        }
      }),
      { numRuns: 2_000 },
    );
    // A good cell with one field replaced by anything: a cell, or a line naming what is wrong.
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(options)), fc.anything(), async (field, junk) => {
        await breathe();
        const out = decodeFrisbeeCell({ ...cell, options: { ...options, [field]: junk } });
        if (typeof out === "string") expect(out).toMatch(/^payload[.:]/);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("plan shard files", () => {
  const cells = frisbeeCells(options, planGrid(options), 2);
  const results = new Map<string, ReturnType<typeof runFrisbeeCell>>();
  // Each cell is a whole simulation: run them one at a time, letting the event loop turn between.
  beforeAll(async () => {
    for (const c of cells) {
      await breathe();
      results.set(c.key, runFrisbeeCell(c));
    }
  });
  const shardFile = (index: number): FrisbeeShardFile => ({
    format: PLAN_SHARD_FORMAT, version: "0.1.0+test", options, runs: 2, shard: { index, count: 2 },
    cells: shardCells(cells, { index, count: 2 }).map((c) => ({ key: c.key, result: results.get(c.key)! })),
  });

  it("merges shards into the rows of one run, and refuses a shard of another plan", () => {
    const files = [1, 2].map((k) => {
      const file = join(dir, `shard${k}.json`);
      writeFileSync(file, JSON.stringify(shardFile(k)));
      const input = readMergeInput(file);
      if (input.kind !== "plan") throw new Error("not read as a plan shard");
      return { file, shard: input.shard };
    });
    expect(mergePlanShards(files).rows).toEqual(assembleRows(cells, results));
    const other = { ...files[1]!, shard: { ...files[1]!.shard, runs: 1 } };
    expect(() => mergePlanShards([files[0]!, other])).toThrow(/a shard of another plan/);
  });

  it("reads back a shard only when every field checks out, naming the file", async () => {
    const file = join(dir, "good.json");
    const text = JSON.stringify(shardFile(1));
    writeFileSync(file, text);
    expect(readMergeInput(file).kind).toBe("plan");
    await fc.assert(
      fc.asyncProperty(fc.nat(text.length - 1), fc.string({ minLength: 1, maxLength: 3 }), async (at, junk) => {
        await breathe();
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

describe("swap plan shard files", () => {
  const options = { ...swapOptions, nodes: [10, 20], deltaPcts: [1, 5] };
  const cells = swapCells(options);
  const results = new Map<string, ReturnType<typeof runSwapCell>>();
  beforeAll(async () => {
    for (const c of cells) {
      await breathe();
      results.set(c.key, runSwapCell(c));
    }
  });
  const shardFile = (index: number, count = 3): SwapShardFile => ({
    format: SWAP_SHARD_FORMAT, version: "0.1.0+test", options, runs: 1, shard: { index, count },
    cells: shardCells(cells, { index, count }).map((c) => ({ key: c.key, result: results.get(c.key)! })),
  });
  /** Writes a shard and reads it back as sweep merge does. */
  const written = (name: string, shard: PlanShardFile): { file: string; shard: PlanShardFile } => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(shard));
    const input = readMergeInput(file);
    if (input.kind !== "plan") throw new Error("not read as a plan shard");
    return { file, shard: input.shard };
  };
  /** A Frisbee plan's shard, given with a swap plan's. */
  const frisbee: FrisbeeShardFile = { format: PLAN_SHARD_FORMAT, version: "0.1.0+test", options: planOptions, runs: 1, shard: { index: 2, count: 3 }, cells: [] };

  it("merges the shards, in any order, into the rows of one run in grid order", () => {
    const files = [3, 1, 2].map((k) => written(`swap${k}.json`, shardFile(k)));
    const merged = mergePlanShards(files);
    if (merged.plan !== "swap") throw new Error(`merged as a ${merged.plan} plan`);
    expect(merged.rows).toEqual(swapRows(cells, results));
    expect(merged.rows.map((r) => `${r.nodes}@${r.deltaPct}`)).toEqual(["10@1", "20@1", "10@5", "20@5"]);
  });

  it("refuses in one line naming the file: another kind of plan, another plan, a repeat, a missing or a cut slice", () => {
    const [one, two, three] = [1, 2, 3].map((k) => written(`swap${k}.json`, shardFile(k))) as [ReturnType<typeof written>, ReturnType<typeof written>, ReturnType<typeof written>];
    const fris = { file: join(dir, "frisbee2.json"), shard: frisbee };
    expect(() => mergePlanShards([one, fris, three])).toThrow(`${fris.file}: a shard of a frisbee plan, ${one.file} of a swap plan; merge each plan on its own`);
    const other = written("other.json", { ...shardFile(2), options: { ...options, seed: 9 } });
    expect(() => mergePlanShards([one, other, three])).toThrow(`${other.file}: a shard of another plan than ${one.file}`);
    expect(() => mergePlanShards([one, two, one, three])).toThrow(`${one.file}: shard 1/3 is also in ${one.file}`);
    expect(() => mergePlanShards([one, three])).toThrow("sweep merge: plan shard 2 of 3 missing");
    const cut = written("cut.json", { ...shardFile(1), cells: shardFile(1).cells.slice(1) });
    expect(() => mergePlanShards([cut, two, three])).toThrow(`${cut.file}: shard 1/3 holds 1 cells, its slice has 2 (was it cancelled?)`);
    const halves = written("half.json", shardFile(1, 2));
    expect(() => mergePlanShards([one, halves])).toThrow(`${halves.file}: shard 1/2, ${one.file} is one of 3`);
    const build = written("build.json", { ...shardFile(2), version: "0.0.9+old" });
    expect(() => mergePlanShards([one, build, three])).toThrow(/build\.json: run by build 0\.0\.9\+old/);
    // A row another plan's options would not make, or a row whose figures are not its fingerprint's.
    expect(() => written("stray.json", { ...shardFile(1), cells: [{ key: "7", result: results.get("0")! }] })).toThrow(/stray\.json: cells\[0\]\.key: no such cell in this plan/);
    expect(() => written("swapped.json", { ...shardFile(1), cells: [{ key: "0", result: results.get("1")! }] })).toThrow(/swapped\.json: cells\[0\]\.result: row: expected the row of 10 nodes at 1%/);
  });

  it("refuses random bytes, a cut file and a changed byte with one line naming the file, and changes nothing", async () => {
    const file = join(dir, "swap-good.json");
    const text = `${JSON.stringify(shardFile(1))}\n`;
    writeFileSync(file, text);
    expect(readMergeInput(file).kind).toBe("plan");
    const refused = (bytes: Uint8Array | string): void => {
      const broken = join(dir, "swap-broken.json");
      writeFileSync(broken, bytes);
      try {
        readMergeInput(broken);
      } catch (error) {
        expect(error).toBeInstanceOf(ScenarioError);
        expect((error as Error).message.startsWith(`${broken}: `)).toBe(true);
        expect((error as Error).message).not.toContain("\n");
        return;
      }
      // Only a change that leaves the file valid may be read back, and then as the same kind.
      expect(typeof bytes).toBe("string");
    };
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        await breathe();
        refused(bytes);
      }),
      { numRuns: 200 },
    );
    // Truncated anywhere (a copy that stopped part way): never read as a shard.
    await fc.assert(
      fc.asyncProperty(fc.nat(text.length - 2), async (at) => {
        await breathe();
        expect(() => readMergeInput((writeFileSync(join(dir, "swap-cut.json"), text.slice(0, at)), join(dir, "swap-cut.json")))).toThrow(ScenarioError);
      }),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(text.length - 1), fc.string({ minLength: 1, maxLength: 3 }), async (at, junk) => {
        await breathe();
        refused(text.slice(0, at) + junk + text.slice(at + 1));
      }),
      { numRuns: 300 },
    );
    expect(readFileSync(file, "utf8")).toBe(text);
  });
});
