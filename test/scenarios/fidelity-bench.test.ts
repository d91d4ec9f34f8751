import { describe, expect, it, vi } from "vitest";
import { serverTally } from "../../real/frisbee/fidelity.js";
import { calibratedGap, errorPct, MEASURES, runFidelityBench } from "../../scenarios/frisbee/fidelity.js";
import { endpoint, IMAGE } from "../real/frisbee/support.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";
import { multicastSkipReason, titled } from "../support/probes.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const noMulticast = await multicastSkipReason();

describe("bench fidelity", () => {
  it("gives the error of a model against the real figure in percent", () => {
    expect(errorPct(2, 2.3)).toBe(15);
    expect(errorPct(4, 3)).toBe(-25);
    expect(errorPct(0, 0)).toBe(0);
    expect(errorPct(0, 1)).toBeNull();
  });

  it("reads frisbeed's closing line, and refuses output without it", () => {
    const line = "frisbeed: sent 4538 blocks (442 again), 1 joins, 1 leaves, 0 progress reports (0 lost), 4 requests, 12 partial requests, 450 datagrams dropped by --drop-sent, busy 9.125 s\n";
    expect(serverTally(line)).toEqual({ blocksSent: 4538, requests: 4, prequests: 12, serverBusySec: 9.125 });
    expect(() => serverTally("frisbeed: sent 4538 blocks\n")).toThrow(/did not print its tally/);
    expect(() => serverTally(line.replace(", busy 9.125 s", ""))).toThrow(/did not print its tally/);
  });

  it("calibrates the model's burst gap to the rate the real server kept", () => {
    // The real server kept 400 blocks/s where the model's kept 500: a gap a quarter longer.
    expect(calibratedGap(2000, 500, 400)).toBe(2500);
    expect(calibratedGap(2000, 500, 1000)).toBe(1000);
    // Nothing measured (a server that never had work): the gap stays.
    expect(calibratedGap(2000, 500, 0)).toBe(2000);
    expect(calibratedGap(2000, 0, 400)).toBe(2000);
  });

  it.skipIf(noMulticast !== null)(titled("runs real clients and both models on a setup and lines up every measure", noMulticast), { timeout: 120_000 }, async () => {
    const r = await runFidelityBench({
      setups: [{ clients: 2, serverLoss: 0.05, start: "clustered:2:300ms" }],
      sizeBytes: 2 * 2 ** 20,
      bandwidthBps: 8e6,
      realRuns: 1,
      simSeeds: 1,
      seed: 3,
      port: endpoint().port,
      log: () => {},
    });
    expect(r.mismatched).toEqual([]);
    expect(r.rows.map((row) => `${row.model} ${row.measure}`)).toEqual([...MEASURES.map((m) => `packet ${m}`), ...MEASURES.map((m) => `calibrated ${m}`), ...MEASURES.map((m) => `chunk ${m}`)]);
    const rate = (model: string, side: "real" | "sim"): number => r.rows.find((row) => row.model === model && row.measure === "serverBlocksPerSec")?.[side] ?? NaN;
    // The real server had work and kept some rate; the calibrated model ran at the gap that rate gives.
    expect(rate("packet", "real")).toBeGreaterThan(0);
    expect(Object.values(r.calibratedGapUs)).toEqual([calibratedGap(r.gapUs, rate("packet", "sim"), rate("packet", "real"))]);
    const real = (m: string): number => r.rows.find((row) => row.measure === m)?.real ?? NaN;
    // The real server lost 5% of what it sent, so it sent more than the image; the clients asked again.
    expect(real("blocksSent")).toBeGreaterThan(r.imageBlocks);
    expect(real("prequests") + real("requests")).toBeGreaterThan(0);
    expect(real("runtimeSecMean")).toBeGreaterThan(0);
    for (const row of r.rows) expect(row.errorPct).toBe(errorPct(row.real, row.sim));
  });

  it("refuses a bad --losses, --starts or frisbeed --drop-sent in one line, exit 2", async () => {
    const cases: [string[], RegExp][] = [
      [["bench", "fidelity", "--losses", "0,1.5"], /--losses: expected fractions from 0 to below 1, got "1.5"/],
      [["bench", "fidelity", "--starts", "soon"], /--starts: "soon" is not a start pattern/],
      [["frisbeed", "--image", IMAGE, "-m", "239.1.2.3", "-p", "7000", "--drop-sent", "1"], /--drop-sent: expected a fraction from 0 to below 1, got "1"/],
    ];
    for (const [args, message] of cases) {
      const r = await runTestbed(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});
