import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openExperimentStore } from "../../real/store/index.js";

const CLI = join(fileURLToPath(new URL("../..", import.meta.url)), "dist/bin/testbed.js");
const dir = mkdtempSync(join(tmpdir(), "testbed-demo-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function demo(db: string) {
  const r = spawnSync(process.execPath, [CLI, "exp", "demo", "--nodes", "30", "--seed", "2", "--db", db], { cwd: dir, encoding: "utf8", timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("testbed exp demo (npm start, smaller)", () => {
  it("swaps in a simulated experiment by itself, records it, and prints the portal line; a second run swaps the first out and in again", () => {
    const db = join(dir, "demo.db");
    const first = demo(db);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^seed: 2\n/);
    expect(first.stdout).toMatch(/created experiment demo-30: 30 simulated nodes/);
    expect(first.stdout).toMatch(/boot barrier passed: 30\/30 ready/);
    expect(first.stdout.trimEnd().split("\n").at(-1)).toBe(`open it in the portal: npx testbed serve --db ${db}   then http://127.0.0.1:8080/#/exp/demo-30`);
    const second = demo(db);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/demo-30 is active from an earlier run: swapping it out first/);
    const store = openExperimentStore(db);
    try {
      expect(store.experimentHead("demo-30")?.state).toBe("active");
      expect(store.swapRuns("demo-30").map((r) => [r.kind, r.ok])).toEqual([["swapin", true], ["swapout", true], ["swapin", true]]);
    } finally {
      store.close();
    }
  });
});
