import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openMonitorStore } from "../../../real/store/index.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const CLI = join(ROOT, "dist/bin/testbed.js");
const dir = mkdtempSync(join(tmpdir(), "testbed-moncli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function testbed(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineError(r: { code: number | null; stderr: string }, code: number, pattern: RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("testbed plan monitor", () => {
  it("prints the measures as JSON, including testsRun and maxInFlight", () => {
    const r = testbed("plan", "monitor", "--nodes", "400", "--days", "1", "--window", "10", "--flaky-pct", "5", "--seed", "3", "--json", "--no-store");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of ["testsRun", "maxInFlight", "detectSec", "returnSec", "testsOnFlappers", "queueWaitSec", "wallSeconds", "peakRssMiB", "traceHash"]) expect(out).toHaveProperty(key);
    expect(out["maxInFlight"]).toBe(10);
    expect(out["ok"]).toBe(true);
    expect(out["seed"]).toBe("3");
    expect(out["flakyPct"]).toBe(5);
  });

  it("records the run in the store", () => {
    const db = join(dir, "plan.db");
    const r = testbed("plan", "monitor", "--nodes", "100", "--days", "0.5", "--json", "--db", db);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { runId: number }).runId).toBe(1);
    expect(testbed("runs", "--db", db, "--json").stdout).toContain("plan-monitor");
  });

  it("refuses bad flags in one line, exit 2", () => {
    expectOneLineError(testbed("plan", "monitor", "--nodes", "0"), 2, /^testbed: --nodes: expected a whole number from 1/);
    expectOneLineError(testbed("plan", "monitor", "--flaky-pct", "120"), 2, /^testbed: --flaky-pct: expected a percentage/);
    expectOneLineError(testbed("plan", "monitor", "--days", "soon"), 2, /^testbed: --days:/);
    expectOneLineError(testbed("plan", "monitor", "--test-secs", "9:3"), 2, /^testbed: --test-secs:/);
  });
});

describe("testbed monitor", () => {
  it("tests every node once with a command and stores the pools", () => {
    const nodes = file("nodes.txt", "a\nb\n# c is retired\n");
    const db = join(dir, "m1.db");
    const r = testbed("monitor", "--nodes", nodes, "--test", "test {node} = a", "--once", "--load-max", "1000", "--db", db);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^b: good -> bad$/m);
    expect(r.stdout).toMatch(/monitor stopped: 2 nodes \(0 resumed, 2 new, 0 corrupted rows\), 2 tests/);
    const store = openMonitorStore(db);
    expect(store.loadNodes(["good", "bad"]).nodes.map((n) => `${n.name}:${n.pool}`)).toEqual(["a:good", "b:bad"]);
    store.close();
  });

  it("kills a test command that never exits at --timeout", () => {
    const nodes = file("hang.txt", "h\n");
    const started = Date.now();
    const r = testbed("monitor", "--nodes", nodes, "--test", "sleep 600", "--timeout", "1", "--once", "--load-max", "1000", "--db", join(dir, "m2.db"));
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.stdout).toMatch(/^h: timeout in 1\.\d\d s \(pool good\)$/m);
  });

  it("refuses an unreadable node list and a duplicate node in one line, exit 2", () => {
    expectOneLineError(testbed("monitor", "--nodes", join(dir, "none.txt"), "--test", "true"), 2, /^testbed: .*none\.txt: cannot read the node list \(no such file\)$/);
    const dup = file("dup.txt", "x\ny\nx\n");
    expectOneLineError(testbed("monitor", "--nodes", dup, "--test", "true"), 2, /dup\.txt:3: duplicate node "x" \(first on line 1\)$/);
    expectOneLineError(testbed("monitor", "--nodes", dup, "--test", "tcp:0"), 2, /--test tcp:PORT/);
  });

  it("refuses a store file that is not a database in one line, exit 1, and leaves it alone", () => {
    const nodes = file("one.txt", "a\n");
    const notDb = file("not.db", "hello, I am a text file\n");
    expectOneLineError(testbed("monitor", "--nodes", nodes, "--test", "true", "--db", notDb), 1, /not\.db: not a testbed database/);
  });

  it("stops cleanly on SIGTERM and keeps every node", async () => {
    const nodes = file("many.txt", Array.from({ length: 30 }, (_, i) => `n${i}`).join("\n"));
    const db = join(dir, "m3.db");
    const child = spawn(process.execPath, [CLI, "monitor", "--nodes", nodes, "--test", "sleep 0.2", "--window", "3", "--load-max", "1000", "--db", db], { cwd: dir });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    await new Promise((r) => setTimeout(r, 1_500));
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(0);
    expect(stdout).toMatch(/monitor stopped: 30 nodes/);
    const store = openMonitorStore(db);
    expect(store.loadNodes(["good", "bad"]).nodes).toHaveLength(30);
    store.close();
  });
});
