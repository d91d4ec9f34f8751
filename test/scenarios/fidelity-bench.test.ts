import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { clientOutcome, serverTally } from "../../real/frisbee/fidelity.js";
import { agrees, calibratedGap, compareModels, machinePaused, type RecordedRun, errorPct, MEASURES, runFidelityBench, tally, type FidelityRow, type ModelInputs } from "../../scenarios/frisbee/fidelity.js";
import { startTimes } from "../../sim/frisbee/start.js";
import { createRng } from "../../core/engine/index.js";
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

  it("holds a model to 15% of the real figure, or a floor where the real figure is small beside one run's chance", () => {
    expect(agrees("runtimeSecMean", 10, 11.5, 1)).toBe(true);
    expect(agrees("runtimeSecMean", 10, 8.49, 1)).toBe(false);
    expect(agrees("blocksSent", 4096, 4096 * 1.16, 8)).toBe(false);
    // The resent share: 1 point of the image whatever the percentage, then 15% beyond it.
    expect(agrees("duplicatePct", 1.2, 2.1, 1)).toBe(true);
    expect(agrees("duplicatePct", 1.2, 2.3, 1)).toBe(false);
    expect(agrees("duplicatePct", 20, 22.9, 4)).toBe(true);
    expect(agrees("duplicatePct", 20, 23.5, 4)).toBe(false);
    // Requests: one per client.
    expect(agrees("prequests", 4, 5, 1)).toBe(true);
    expect(agrees("prequests", 4, 6, 1)).toBe(false);
    expect(agrees("prequests", 40, 90, 8)).toBe(false);
    expect(agrees("requests", 0, 8, 8)).toBe(true);
    // The kept rate is the calibration's input, not a prediction.
    expect(agrees("serverBlocksPerSec", 400, 500, 1)).toBeNull();
    const row = (model: FidelityRow["model"], ok: boolean | null): FidelityRow => ({ setup: "s", measure: "blocksSent", model, real: 1, sim: 1, errorPct: 0, agrees: ok });
    expect(tally([row("packet", true), row("packet", false), row("packet", null), row("chunk", true)])).toEqual({ packet: { agree: 1, of: 2 }, chunk: { agree: 1, of: 1 } });
  });

  it("says the machine paused a real run when its clients made idle requests the calibrated model did not", () => {
    expect(machinePaused({ clientIdles: 6, calibratedIdles: 1 }, 4)).toBe(true);
    expect(machinePaused({ clientIdles: 5, calibratedIdles: 1 }, 4)).toBe(false);
    expect(machinePaused({ clientIdles: 0, calibratedIdles: 0 }, 1)).toBe(false);
  });

  it("starts clients at measured offsets, as the real ones started", () => {
    expect(startTimes({ kind: "at", offsetsUs: [0, 250_000, 40_000] }, 4, 1_000, createRng(1))).toEqual([1_000, 251_000, 41_000, 1_000]);
  });

  it("reads a client's --json outcome, and refuses one without its start, done time or socket drops", () => {
    const line = JSON.stringify({ ok: true, seconds: 9.5, startedAtEpochUs: 1_700_000_000_000_000, socketDrops: 0, counters: { doneAtUs: 9_600_000, idles: 2, requests: 7 } });
    expect(clientOutcome(`progress\n${line}\n`)).toMatchObject({ startedAtEpochUs: 1_700_000_000_000_000, socketDrops: 0, counters: { doneAtUs: 9_600_000, idles: 2 } });
    expect(clientOutcome(line.replace('"socketDrops":0', '"socketDrops":null')).socketDrops).toBeNull();
    expect(() => clientOutcome(line.replace('"startedAtEpochUs"', '"started"'))).toThrow(/no outcome with its start/);
    expect(() => clientOutcome(line.replace('"socketDrops":0', '"socketDrops":"0"'))).toThrow(/no outcome/);
    expect(() => clientOutcome(line.replace('"idles":2,', ""))).toThrow(/no outcome/);
    expect(() => clientOutcome("not json")).toThrow(/no outcome/);
  });

  it("replays the real clients' starts in the models: a client that started late makes the server send again", () => {
    const inputs: ModelInputs = { imageBytes: 2 * 2 ** 20, diskBytes: 4 * 2 ** 20, imageBlocks: 2048, inflateMiBs: 200, burst: 1, gapUs: 2000 };
    const run = (startOffsetsUs: number[]): number => {
      const recorded = [{ runtimesSec: [4.2, 4.2], startOffsetsUs, blocksSent: 2048, requests: 6, prequests: 0, serverBusySec: 4.1, clientIdles: 0 }];
      const rows = compareModels(inputs, { clients: 2, serverLoss: 0, start: "simultaneous" }, recorded, 1, 1, () => {}).rows;
      return rows.find((r) => r.model === "packet" && r.measure === "blocksSent")?.sim ?? NaN;
    };
    expect(run([0, 0])).toBe(2048);
    // The second client joined 2 s (half the image) in: what it missed of the chunk in flight is sent again.
    expect(run([0, 2_000_000])).toBeGreaterThan(2048 + 200);
  });

  it("keeps the calibrated model within 15% of six small real setups recorded on this machine", () => {
    const fixture = JSON.parse(readFileSync(new URL("../fixtures/fidelity/recorded-2026-12-06.json", import.meta.url), "utf8")) as { inputs: ModelInputs; recorded: Record<string, RecordedRun[]> };
    // Not held: requests with several clients, where the packet model's clients act in lockstep
    // (every one completes a chunk, or goes idle, at the same microsecond, so none hears another's
    // request first): 4 clients without loss asked 22 times, the model 28; with 10% loss 13
    // partial requests, the model 45 (notes/agree.md).
    const notHeld: Record<string, string[]> = { "4 clients, server loss 0, start simultaneous": ["requests"], "4 clients, server loss 0.1, start simultaneous": ["prequests"] };
    const off: string[] = [];
    for (const [name, recorded] of Object.entries(fixture.recorded)) {
      const m = /^(\d+) clients?, server loss ([\d.]+), start (.*)$/.exec(name) as RegExpExecArray;
      const setup = { clients: Number(m[1]), serverLoss: Number(m[2]), start: m[3] as string };
      const rows = compareModels(fixture.inputs, setup, recorded, 4, 1, () => {}).rows.filter((r) => r.model === "calibrated" && r.agrees !== null);
      expect(rows).toHaveLength(6);
      for (const r of rows) if (!r.agrees && !(notHeld[name] ?? []).includes(r.measure)) off.push(`${name} ${r.measure}: real ${r.real}, calibrated ${r.sim}`);
    }
    expect(off).toEqual([]);
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
      retries: 1,
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
    for (const row of r.rows) {
      expect(row.errorPct).toBe(errorPct(row.real, row.sim));
      expect(row.agrees).toBe(agrees(row.measure, row.real, row.sim, 2));
    }
    expect(r.agreement).toEqual(tally(r.rows));
    // Each client's start was measured (the first at 0) and the run's drops and load reported.
    const [recorded] = Object.values(r.recorded);
    expect(recorded).toHaveLength(1);
    expect(recorded?.[0]?.startOffsetsUs).toHaveLength(2);
    expect(Math.min(...(recorded?.[0]?.startOffsetsUs ?? []))).toBe(0);
    const [info] = Object.values(r.realRuns);
    expect(info?.attempts).toBeGreaterThanOrEqual(1);
    expect(info?.load1).toBeGreaterThanOrEqual(0);
    expect(info?.serverBusySec).toBeGreaterThan(0);
    expect(info?.clientIdles).toBeGreaterThanOrEqual(0);
    expect(info?.calibratedIdles).toBeGreaterThanOrEqual(0);
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
