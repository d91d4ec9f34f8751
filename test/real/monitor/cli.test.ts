import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openMonitorStore } from "../../../real/store/index.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const CLI = join(ROOT, "dist/bin/testbed.js");
const dir = mkdtempSync(join(tmpdir(), "testbed-moncli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 60_000 });
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
  it("prints the measures as JSON, including testsRun and maxInFlight", async () => {
    const r = await testbed("plan", "monitor", "--nodes", "400", "--days", "1", "--window", "10", "--flaky-pct", "5", "--seed", "3", "--json", "--no-store");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of ["testsRun", "maxInFlight", "detectSec", "returnSec", "testsOnFlappers", "queueWaitSec", "wallSeconds", "peakRssMiB", "traceHash"]) expect(out).toHaveProperty(key);
    expect(out["maxInFlight"]).toBe(10);
    expect(out["ok"]).toBe(true);
    expect(out["seed"]).toBe("3");
    expect(out["flakyPct"]).toBe(5);
  });

  it("records the run in the store", async () => {
    const db = join(dir, "plan.db");
    const r = await testbed("plan", "monitor", "--nodes", "100", "--days", "0.5", "--json", "--db", db);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { runId: number }).runId).toBe(1);
    expect((await testbed("runs", "--db", db, "--json")).stdout).toContain("plan-monitor");
  });

  it("refuses bad flags in one line, exit 2", async () => {
    expectOneLineError(await testbed("plan", "monitor", "--nodes", "0"), 2, /^testbed: --nodes: expected a whole number from 1/);
    expectOneLineError(await testbed("plan", "monitor", "--flaky-pct", "120"), 2, /^testbed: --flaky-pct: expected a percentage/);
    expectOneLineError(await testbed("plan", "monitor", "--days", "soon"), 2, /^testbed: --days:/);
    expectOneLineError(await testbed("plan", "monitor", "--test-secs", "9:3"), 2, /^testbed: --test-secs:/);
  });
});

describe("testbed monitor", () => {
  it("tests every node once with a command and stores the pools", async () => {
    const nodes = file("nodes.txt", "a\nb\n# c is retired\n");
    const db = join(dir, "m1.db");
    const r = await testbed("monitor", "--nodes", nodes, "--test", "test {node} = a", "--once", "--load-max", "1000", "--db", db);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ b: good -> bad$/m);
    expect(r.stdout).toMatch(/monitor stopped: 2 nodes \(0 resumed, 2 new, 0 corrupted rows\), 2 tests/);
    const store = openMonitorStore(db);
    expect(store.loadNodes(["good", "bad"]).nodes.map((n) => `${n.name}:${n.pool}`)).toEqual(["a:good", "b:bad"]);
    store.close();
  });

  it("kills a test command that never exits at --timeout", async () => {
    const nodes = file("hang.txt", "h\n");
    const started = Date.now();
    const r = await testbed("monitor", "--nodes", nodes, "--test", "sleep 600", "--timeout", "1", "--once", "--load-max", "1000", "--db", join(dir, "m2.db"));
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.stdout).toMatch(/^\S+ h: timeout in 1\.\d\d s \(pool good\): no result within --timeout 1 s; killed$/m);
  });

  it("refuses an unreadable node list and a duplicate node in one line, exit 2", async () => {
    expectOneLineError(await testbed("monitor", "--nodes", join(dir, "none.txt"), "--test", "true"), 2, /^testbed: .*none\.txt: cannot read the node list \(no such file\)$/);
    const dup = file("dup.txt", "x\ny\nx\n");
    expectOneLineError(await testbed("monitor", "--nodes", dup, "--test", "true"), 2, /dup\.txt:3: duplicate node "x" \(first on line 1\)$/);
    expectOneLineError(await testbed("monitor", "--nodes", dup, "--test", "tcp:70000"), 2, /--test tcp:PORT: expected a port from 1 to 65535, got 70000/);
  });

  it("refuses a store file that is not a database in one line, exit 1, and leaves it alone", async () => {
    const nodes = file("one.txt", "a\n");
    const notDb = file("not.db", "hello, I am a text file\n");
    expectOneLineError(await testbed("monitor", "--nodes", nodes, "--test", "true", "--db", notDb), 1, /not\.db: not a testbed database/);
  });

  it("stops cleanly on SIGTERM and keeps every node", async () => {
    const nodes = file("many.txt", Array.from({ length: 30 }, (_, i) => `n${i}`).join("\n"));
    const db = join(dir, "m3.db");
    const child = spawn(process.execPath, [CLI, "monitor", "--nodes", nodes, "--test", "sleep 0.2", "--window", "3", "--load-max", "1000", "--db", db], { cwd: dir });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    // Its start line comes after its signal handlers are in place; a fixed sleep was too short under load.
    await new Promise<void>((r) => child.stdout.on("data", () => r()));
    await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(0);
    expect(stdout).toMatch(/monitor stopped: 30 nodes/);
    const store = openMonitorStore(db);
    expect(store.loadNodes(["good", "bad"]).nodes).toHaveLength(30);
    store.close();
  });
});

describe("testbed monitor says what it does", () => {
  const lines = (stdout: string): string[] => stdout.trimEnd().split("\n");

  it("refuses anything close to tcp:PORT rather than run it as a shell command", async () => {
    const nodes = file("close.txt", "a\n");
    for (const test of ["TCP:22", "tcp:abc", "tcp: 22", " tcp:22", "tcp:22 ", "tcp:0", "Tcp:22"]) {
      expectOneLineError(await testbed("monitor", "--nodes", nodes, "--test", test, "--db", join(dir, "never.db")), 2, /^testbed: --test/);
    }
    expect(existsSync(join(dir, "never.db"))).toBe(false);
  });

  it("starts with a line saying what it monitors, stamps every line, and gives each failure its reason", async () => {
    const nodes = file("why.txt", "good1\nbad1\n");
    const r = await testbed("monitor", "--nodes", nodes, "--test", 'if [ {node} = bad1 ]; then echo "ssh: connect to host bad1 port 22: Connection refused" >&2; exit 255; fi', "--once", "--load-max", "1000", "--db", join(dir, "why.db"));
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^\S+Z monitoring 2 nodes \(0 resumed, 2 new; pools: good 2, bad 0\) with 'if .*'; window 40, timeout 600 s, load max 1000; first test due now$/);
    for (const l of out) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /);
    expect(r.stdout).toMatch(/ bad1: fail in \d+\.\d\d s \(pool good\): exit 255: ssh: connect to host bad1 port 22: Connection refused$/m);
    expect(r.stdout).toMatch(/ good1: pass in \d+\.\d\d s \(pool good\)$/m);
    const store = openMonitorStore(join(dir, "why.db"));
    expect(store.events("monitor.move").find((e) => e.host === "bad1" && e.data["to"] === "bad")?.data).toMatchObject({ from: "good", to: "bad", detail: "exit 255: ssh: connect to host bad1 port 22: Connection refused" });
    store.close();
  });

  it("--once on a resumed store says when the next test is due instead of waiting", async () => {
    const nodes = file("again.txt", "a\n");
    const db = join(dir, "again.db");
    expect((await testbed("monitor", "--nodes", nodes, "--test", "true", "--once", "--load-max", "1000", "--db", db)).code).toBe(0);
    const started = Date.now();
    const r = await testbed("monitor", "--nodes", nodes, "--test", "true", "--once", "--load-max", "1000", "--db", db);
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.stdout).toMatch(/ --once: 1 node is not due yet; the next test is due at \S+Z \(in \d+ (s|min)\) \(a\); stopping$/m);
  });

  it("prints JSON lines with --json, and probes a node named ::1", async () => {
    const server = createServer((socket) => socket.destroy());
    const listening = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(0, "::1", () => resolve(true));
    });
    const port = listening ? (server.address() as AddressInfo).port : 1;
    try {
      const nodes = file("v6.txt", "::1\n");
      const r = await testbed("monitor", "--nodes", nodes, "--test", `tcp:${port}`, "--once", "--json", "--load-max", "1000", "--db", join(dir, "v6.db"));
      expect(r.code).toBe(0);
      const objects = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(objects.map((o) => o["kind"])).toEqual(["start", "tested", "stopped"]);
      for (const o of objects) expect(o["time"]).toMatch(/Z$/);
      // Without IPv6 on this machine the probe fails, with its reason; with it, it passes.
      expect(objects[1]).toMatchObject(listening ? { node: "::1", result: "pass", reason: null } : { node: "::1", result: "fail" });
    } finally {
      server.close();
    }
  });
});
