import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "testbed-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 60_000 });
}

function scenarioFile(name: string, body: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof body === "string" ? body : JSON.stringify(body));
  return path;
}

const small = {
  seed: 11,
  duration: "1s",
  hosts: [{ name: "s" }, { name: "c", count: 5 }],
  network: { links: [{ hosts: "c*", direction: "down", loss: 0.05 }] },
  workloads: [{ type: "traffic", from: "s", to: "group:1", members: "c*", rate: "2Mbit", packet: "1000" }],
};

function expectOneLineError(r: { code: number | null; stdout: string; stderr: string }, code: number, pattern: RegExp) {
  expect(r.code).toBe(code);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("testbed command", () => {
  it("lists its subcommands in --help and exits 0", async () => {
    const r = await testbed("--help");
    expect(r.code).toBe(0);
    for (const sub of ["sim", "bench", "plan", "runs"]) expect(r.stdout).toContain(sub);
  });

  it("prints the package version for --version", async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    const r = await testbed("--version");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it("shows an example in each command's help", async () => {
    for (const args of [["sim", "--help"], ["bench", "engine", "--help"], ["runs", "--help"]]) {
      const r = await testbed(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Example:\n\s+testbed /);
    }
  });
});

describe("testbed sim", () => {
  const file = scenarioFile("small.json", small);
  const db = join(dir, "runs.db");

  it("prints one JSON object with the seed, fingerprint, counts, times and invariants", async () => {
    const r = await testbed("sim", file, "--seed", "5", "--json", "--db", db);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(out)[0]).toBe("seed");
    expect(out.seed).toBe(5);
    expect(out.traceHash).toMatch(/^[0-9a-f]{16}$/);
    // Multicast copies arriving together share one event, so count the packets delivered as well.
    expect(out.events).toBeGreaterThan(100);
    expect((out.stats as Record<string, number>).delivered).toBeGreaterThan(1000);
    expect(out.simSeconds).toBe(1);
    expect(typeof out.wallSeconds).toBe("number");
    expect(Array.isArray(out.invariants)).toBe(true);
    expect((out.invariants as { ok: boolean }[]).every((i) => i.ok)).toBe(true);
  });

  it("replays a seed to the same fingerprint from a separate process", async () => {
    const a = JSON.parse((await testbed("sim", file, "--seed", "77", "--json", "--no-store")).stdout) as { traceHash: string };
    const b = JSON.parse((await testbed("sim", file, "--seed", "77", "--json", "--no-store")).stdout) as { traceHash: string };
    const c = JSON.parse((await testbed("sim", file, "--seed", "78", "--json", "--no-store")).stdout) as { traceHash: string };
    expect(b.traceHash).toBe(a.traceHash);
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it("runs twice under --check-determinism and reports both fingerprints", async () => {
    const r = await testbed("sim", file, "--json", "--check-determinism", "--no-store");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { seed: number; determinism: { ok: boolean; traceHashes: string[] } };
    expect(out.seed).toBe(11);
    expect(out.determinism.ok).toBe(true);
    expect(out.determinism.traceHashes[0]).toBe(out.determinism.traceHashes[1]);
  });

  it("prints the seed on the first line, then a summary, and records the run in the store", async () => {
    const r = await testbed("sim", file, "--db", db);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("seed: 11");
    expect(r.stdout).toMatch(/ok\s+packet-conservation/);
    const runs = JSON.parse((await testbed("runs", "--json", "--db", db)).stdout) as { runs: { seed: string; fingerprint: string; ok: boolean }[] };
    expect(runs.runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.runs[0]?.seed).toBe("11");
    expect(runs.runs[0]?.ok).toBe(true);
  });

  it("picks and prints a seed when neither the flag nor the file gives one", async () => {
    const { seed: _seed, ...unseeded } = small;
    const r = await testbed("sim", scenarioFile("unseeded.json", unseeded), "--no-store");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^seed: \d+$/);
  });

  it("names a failed invariant and prints a one-line replay command, exit 1", async () => {
    const deaf = {
      ...small,
      network: { links: [{ hosts: "c0", direction: "down", loss: 1 }] },
      faults: [{ type: "partition", at: "100ms", heal: "100ms", a: "c*", b: "s" }],
      duration: "2s",
    };
    const path = scenarioFile("deaf.json", deaf);
    const r = await testbed("sim", path, "--seed", "3", "--no-store");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invariant delivery-after-heal FAILED: flow \d+ from s never reached c0/);
    expect(r.stderr).toContain(`replay: testbed sim ${path} --seed 3`);
  });

  it("refuses a scenario with a bad field in one line naming file and field, exit 2", async () => {
    const bad = { ...small, network: { links: [{ hosts: "c*" }, { hosts: "s" }, { hosts: "c1" }, { hosts: "c2", bandwidth: "fast" }] } };
    const path = scenarioFile("bad.json", bad);
    const r = await testbed("sim", path);
    expectOneLineError(r, 2, new RegExp(`^testbed: ${path}: network\\.links\\[3\\]\\.bandwidth: expected a rate like "100Mbit", got "fast"$`));
  });

  it("refuses a missing file, broken JSON, a bad seed and an unknown flag with one line, exit 2", async () => {
    expectOneLineError(await testbed("sim", join(dir, "nope.json")), 2, /^testbed: .*nope\.json: no such file$/);
    expectOneLineError(await testbed("sim", scenarioFile("broken.json", "{ not json")), 2, /^testbed: .*broken\.json: not valid JSON/);
    expectOneLineError(await testbed("sim", file, "--seed", "-4"), 2, /^testbed: --seed: expected a whole number/);
    expectOneLineError(await testbed("sim", file, "--sede", "4"), 2, /^testbed: unknown option '--sede'/);
  });

  it("refuses a store file that is not a database with one line, exit 1, leaving it untouched", async () => {
    const junk = join(dir, "junk.db");
    writeFileSync(junk, "this is not sqlite at all, just text padding to look like a file".repeat(20));
    const before = readFileSync(junk);
    const r = await testbed("sim", file, "--db", junk);
    expectOneLineError(r, 1, /^testbed: .*junk\.db: /);
    expect(readFileSync(junk).equals(before)).toBe(true);
  });
});

describe("testbed bench engine", () => {
  it("prints the engine rate, the bare heap's rate from the same process and their ratio", async () => {
    const r = await testbed("bench", "engine", "--pending", "1000", "--events", "50000", "--rounds", "1", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { eventsPerSec: number; bareHeapEventsPerSec: number; ratio: number; events: number };
    expect(out.events).toBe(50000);
    expect(out.eventsPerSec).toBeGreaterThan(0);
    expect(out.bareHeapEventsPerSec).toBeGreaterThan(0);
    expect(out.ratio).toBeCloseTo(out.eventsPerSec / out.bareHeapEventsPerSec, 2);
  });

  it("refuses a nonsense count with one line, exit 2", async () => {
    expectOneLineError(await testbed("bench", "engine", "--events", "lots"), 2, /^testbed: --events: expected a whole number/);
  });
});

describe("testbed plan frisbee", () => {
  it("prints one row per client count and loss rate, writes a chart and stores the rows", async () => {
    const svg = join(dir, "plan.svg");
    const db = join(dir, "plan.db");
    const r = await testbed("plan", "frisbee", "--clients", "1,4", "--loss", "0,0.02", "--loss-at", "server", "--image-mib", "8", "--data-mib", "24", "--svg", svg, "--db", db, "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { clients: number; loss: number; runtimeSecMean: number; duplicateDataPct: number; serverCtrlMsgsPerSec: number; ok: boolean }[] };
    expect(out.results.map((x) => [x.clients, x.loss])).toEqual([[1, 0], [4, 0], [1, 0.02], [4, 0.02]]);
    expect(out.results.every((x) => x.ok && x.runtimeSecMean > 0)).toBe(true);
    // No loss and a network-bound server: the runtime does not depend on the number of clients.
    expect(out.results[1]?.runtimeSecMean).toBeCloseTo(out.results[0]?.runtimeSecMean ?? 0, 1);
    expect(readFileSync(svg, "utf8")).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>$/);
    const runs = JSON.parse((await testbed("runs", "--json", "--db", db)).stdout) as { runs: { scenario: string }[] };
    expect(runs.runs.map((x) => x.scenario)).toContain("plan frisbee clients=4 loss=0.02");
  });

  it("refuses nonsense flags with one line and exit 2", async () => {
    expectOneLineError(await testbed("plan", "frisbee", "--clients", "0"), 2, /^testbed: --clients: expected a whole number/);
    expectOneLineError(await testbed("plan", "frisbee", "--burst", "0", "--gap-us", "100"), 2, /^testbed: --burst: expected a whole number from 1/);
    expectOneLineError(await testbed("plan", "frisbee", "--server-mbps", "-5"), 2, /^testbed: --server-mbps: expected a positive number/);
    expectOneLineError(await testbed("plan", "frisbee", "--loss", "1.5"), 2, /^testbed: --loss: expected loss rates/);
    expectOneLineError(await testbed("plan", "frisbee", "--start", "whenever"), 2, /^testbed: --start: "whenever" is not a start pattern; expected simultaneous, clustered:K:S/);
    expectOneLineError(await testbed("plan", "frisbee", "--start", "clustered:4:10"), 2, /^testbed: --start: "clustered:4:10": S, the time between clusters, needs a unit \(e\.g\. clustered:4:10s\)$/);
    expectOneLineError(await testbed("plan", "frisbee", "--runs", "0"), 2, /^testbed: --runs: expected a whole number from 1/);
    expectOneLineError(await testbed("plan", "frisbee", "--model", "packet", "--server-queue"), 2, /^testbed: --server-queue: applies to the chunk model/);
  });

  it("runs a row on several seeds with --runs, storing each run under its seed", async () => {
    const db = join(dir, "plan-runs.db");
    const r = await testbed("plan", "frisbee", "--clients", "3", "--loss", "0.02", "--runs", "2", "--seed", "4", "--image-mib", "8", "--data-mib", "24", "--svg", join(dir, "runs.svg"), "--db", db, "--json");
    expect(r.code).toBe(0);
    const row = (JSON.parse(r.stdout) as { results: { runs: number; perRun: { seed: number; runtimeSecMean: number }[]; runtimeSecMean: number }[] }).results[0];
    expect(row?.runs).toBe(2);
    expect(row?.perRun.map((p) => p.seed)).toEqual([4, 5]);
    const stored = JSON.parse((await testbed("runs", "--json", "--db", db)).stdout) as { runs: { seed: string }[] };
    expect(stored.runs.map((x) => x.seed).sort()).toEqual(["4", "5"]);
  });
});
