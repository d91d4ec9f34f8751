import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { loadScenario, runScenario, type SimRun } from "../../scenarios/runner.js";

/**
 * `testbed sim --check-determinism` must be able to say no. A deterministic simulator never
 * diverges on its own, so the second run is made to diverge here: the job runner (which runs each
 * run on a worker thread) is replaced by one that runs the scenario in this process and, for the
 * second run, alters what it reports. The command's own comparison, message and exit code are
 * what is tested. (test/bin/cli.test.ts runs the real command, which agrees with itself.)
 */
const divergence = vi.hoisted(() => ({ second: (run: SimRun): SimRun => run }));

vi.mock("../../bin/run-job.js", () => {
  let calls = 0;
  return {
    runJob: async (_job: string, input: { file: string; seed: number }): Promise<SimRun> => {
      const run = runScenario(loadScenario(input.file), { seed: input.seed });
      calls++;
      return calls % 2 === 0 ? divergence.second(run) : run;
    },
  };
});
// The command installs signal handlers for the process; a test worker keeps its own.
vi.mock("../../bin/interrupt.js", () => ({ exitCleanlyOnInterrupt: () => () => undefined }));

const { simCommand } = await import("../../bin/sim-command.js");

/** A second of traffic between three hosts across a partition: small, but every part of the summary. */
const DIR = mkdtempSync(join(tmpdir(), "testbed-determinism-"));
const FILE = join(DIR, "tiny.json");
writeFileSync(
  FILE,
  JSON.stringify({
    name: "tiny",
    duration: "1s",
    hosts: [{ name: "h", count: 3 }],
    network: { defaults: { bandwidth: "100Mbit", latency: "100us", queue: "64KiB" }, links: [{ hosts: "h2", direction: "down", loss: 0.01 }] },
    workloads: [{ type: "traffic", from: "h0", to: "group:1", members: "h*", rate: "10Mbit", packet: "1000", pattern: "poisson" }],
    faults: [{ type: "partition", at: "300ms", heal: "200ms", a: "h1", b: "h0" }],
  }),
);
const SEED = 4;

async function check(second: (run: SimRun) => SimRun, json: boolean): Promise<{ code: number; out: string; err: string }> {
  divergence.second = second;
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  const code = await simCommand(FILE, { seed: SEED, json, checkDeterminism: true, db: "unused.db", store: false });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const withResult = (run: SimRun, change: Partial<SimRun["result"]>): SimRun => ({ ...run, result: { ...run.result, ...change } });

describe("testbed sim --check-determinism", () => {
  afterEach(() => vi.restoreAllMocks());
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it("answers ok, exit 0, when both runs give one fingerprint and event count", async () => {
    const r = await check((run) => run, true);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { traceHash: string; determinism: { ok: boolean; traceHashes: string[] } };
    expect(out.determinism).toEqual({ ok: true, traceHashes: [out.traceHash, out.traceHash] });
    expect(r.err).toBe("");
  });

  it("fails, exit 1, naming both fingerprints, when the second run's fingerprint differs", async () => {
    const r = await check((run) => withResult(run, { traceHash: "0123456789abcdef" }), false);
    expect(r.code).toBe(1);
    const first = /trace: ([0-9a-f]{16})  events: (\d+)/.exec(r.out);
    expect(first).not.toBeNull();
    expect(r.err).toBe(
      `testbed: determinism check FAILED for ${FILE} seed ${SEED}: run 1 trace ${first![1]} (${first![2]} events), run 2 trace 0123456789abcdef (${first![2]} events)`,
    );
  });

  it("fails when only the event count differs, and says so in --json", async () => {
    const r = await check((run) => withResult(run, { events: run.result.events + 1 }), true);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.out) as { traceHash: string; determinism: { ok: boolean; traceHashes: string[] } };
    expect(out.determinism).toEqual({ ok: false, traceHashes: [out.traceHash, out.traceHash] });
    expect(r.err).toMatch(/^testbed: determinism check FAILED for .* seed 4: run 1 trace [0-9a-f]{16} \((\d+) events\), run 2 trace [0-9a-f]{16} \(\d+ events\)$/);
  });
});
