import type { Command } from "commander";
import { FrisbeeBenchError } from "../real/frisbee/bench.js";
import { AGREEMENT_PCT, machinePaused, runFidelityBench, type FidelityModel, type FidelityResult, type FidelityRow, type FidelitySetup } from "../scenarios/frisbee/fidelity.js";
import { readStartPattern } from "../scenarios/start.js";
import { parseRateBps } from "../scenarios/units.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";

const MIB = 2 ** 20;

interface FidelityFlags {
  clients: string;
  losses: string;
  starts: string;
  sizeMib: string;
  bandwidth: string;
  runs: string;
  retries: string;
  seeds: string;
  seed: string;
  port: string;
  dir?: string;
  json?: boolean;
}

/** `testbed bench fidelity`: the planner's models beside real runs of our frisbeed and frisbee. */
export function registerFidelityBench(bench: Command): void {
  bench
    .command("fidelity")
    .description("run real frisbeed/frisbee on loopback and the packet and chunk models on the same setups; print each measure side by side with the models' error")
    .option("--clients <list>", "client counts", "1,4,8")
    .option("--losses <list>", "loss at the server (fractions of what it sends)", "0,0.01,0.1")
    .option("--starts <list>", "start patterns, separated by semicolons", "simultaneous;clustered:2:1s")
    .option("--size-mib <n>", "size of the disk-like file", "8")
    .option("--bandwidth <rate>", "the server's bandwidth target, real and simulated (low enough that the clients' inflating does not saturate the cores)", "8Mbit")
    .option("--runs <n>", "real runs per setup, averaged", "1")
    .option("--retries <n>", "times a real run whose clients' sockets dropped datagrams (full receive buffers: loss nobody injected) is run again; the last is kept and flagged", "2")
    .option("--seeds <n>", "simulated seeds per setup and model, averaged", "4")
    .option("--seed <n>", "seed of the file, the loss and the start draws", "1")
    .option("--port <n>", "UDP port of the real runs", "7950")
    .option("--dir <path>", "folder to make the scratch folder in (default: the system's temporary folder); removed after")
    .option("--json", "print one JSON object; each row names its setup, measure, model, real and simulated figures and errorPct")
    .addHelpText("after", "\nExample:\n  testbed bench fidelity --clients 1,4,8 --losses 0,0.01,0.1 --starts 'simultaneous;clustered:2:1s'")
    .action((flags: FidelityFlags) => {
      const bps = parseRateBps(flags.bandwidth);
      if (bps === null || !(bps > 0)) throw new UsageError(`--bandwidth: expected a rate such as 32Mbit, got "${flags.bandwidth}"`);
      const options = {
        setups: setups(flags),
        sizeBytes: parseWhole("--size-mib", flags.sizeMib, 1, 4096) * MIB,
        bandwidthBps: bps,
        realRuns: parseWhole("--runs", flags.runs, 1, 100),
        retries: parseWhole("--retries", flags.retries, 0, 10),
        simSeeds: parseWhole("--seeds", flags.seeds, 1, 1000),
        seed: parseWhole("--seed", flags.seed, 0, 0xffff_ffff),
        port: parseWhole("--port", flags.port, 1, 65_535),
        log: (line: string) => process.stderr.write(`bench: ${line}\n`),
        ...(flags.dir === undefined ? {} : { dir: flags.dir }),
      };
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const r = await runFidelityBench(options);
        if (flags.json) console.log(JSON.stringify(r));
        else print(r);
        if (r.mismatched.length > 0) throw new FrisbeeBenchError(`bench fidelity: a real target differed from the disk in: ${r.mismatched.join("; ")}`);
      });
    });
}

function setups(flags: FidelityFlags): FidelitySetup[] {
  const clients = flags.clients.split(",").map((c) => parseWhole("--clients", c.trim(), 1, 64));
  const losses = flags.losses.split(",").map((l) => {
    const v = Number(l);
    if (!(l.trim() !== "" && v >= 0 && v < 1)) throw new UsageError(`--losses: expected fractions from 0 to below 1, got "${l}"`);
    return v;
  });
  const starts = flags.starts.split(";").map((s) => {
    const p = readStartPattern(s.trim());
    if (typeof p === "string") throw new UsageError(`--starts: ${p}`);
    return s.trim();
  });
  return starts.flatMap((start) => losses.flatMap((serverLoss) => clients.map((c) => ({ clients: c, serverLoss, start }))));
}

function print(r: FidelityResult): void {
  console.log(`disk ${r.diskMiB} MiB, image ${r.imageMiB} MiB (${r.imageBlocks} blocks); server ${r.burst} blocks every ${r.gapUs} us; clients inflate and write at ${r.inflateMiBs} MiB/s (measured alone)`);
  console.log("models (each starts every client when the real one started): calibrated = packet model, its server at the rate the real one kept while it had work (the headline: the original frisbeed does not catch up a late burst either); packet = packet model at the pacing; chunk = chunk model at the pacing (where valid)");
  console.log(`a figure agrees within ${AGREEMENT_PCT}% of the real one, or within 1 point of the image (resent share) or one request per client (requests, partial requests); * marks one that does not; the kept rate is the calibration's input`);
  console.log("");
  console.log("| setup | clients started over s | server busy s | kept blocks/s | calibrated gap us | idle requests: real, calibrated | client socket drops | host RcvbufErrors | load | real runs |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const kept = (setup: string): number | undefined => r.rows.find((row) => row.setup === setup && row.measure === "serverBlocksPerSec")?.real;
  for (const [setup, i] of Object.entries(r.realRuns)) {
    console.log(`| ${setup} | ${i.startSpreadSec} | ${i.serverBusySec} | ${fmt(kept(setup))} | ${r.calibratedGapUs[setup] ?? "-"} | ${fmt(i.clientIdles)}, ${fmt(i.calibratedIdles)}${machinePaused(i, clientsOf(r, setup)) ? " PAUSES" : ""} | ${fmt(i.socketDrops)}${(i.socketDrops ?? 0) > 0 ? " UNPLANNED LOSS" : ""} | ${fmt(i.hostRcvbufErrors)} | ${i.load1} | ${i.attempts} |`);
  }
  console.log("");
  console.log("| setup | measure | real | calibrated | err % | packet | err % | chunk | err % |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const keys = new Map<string, { real: number } & Partial<Record<FidelityModel, FidelityRow>>>();
  for (const row of r.rows) {
    const key = `${row.setup} | ${row.measure}`;
    const entry = keys.get(key) ?? { real: row.real };
    entry[row.model] = row;
    keys.set(key, entry);
  }
  const cells = (e: FidelityRow | undefined): string => (e === undefined ? "- | -" : `${fmt(e.sim)} | ${fmt(e.errorPct)}${e.agrees === false ? "*" : ""}`);
  for (const [key, e] of keys) console.log(`| ${key} | ${fmt(e.real)} | ${cells(e.calibrated)} | ${cells(e.packet)} | ${cells(e.chunk)} |`);
  console.log("");
  const models: FidelityModel[] = ["calibrated", "packet", "chunk"];
  console.log(`agreement: ${models.flatMap((m) => (r.agreement[m] === undefined ? [] : [`${m} ${r.agreement[m]?.agree} of ${r.agreement[m]?.of} figures`])).join("; ")}`);
  const flagged = Object.entries(r.realRuns).filter(([, i]) => (i.socketDrops ?? 0) > 0);
  if (flagged.length > 0) console.log(`unplanned loss (clients' sockets dropped datagrams in every attempt; their resent share and partial requests include it): ${flagged.map(([s]) => s).join("; ")}`);
  const paused = Object.entries(r.realRuns).filter(([setup, i]) => machinePaused(i, clientsOf(r, setup)));
  if (paused.length > 0) console.log(`machine pauses (the real clients made more idle requests than the calibrated model, by more than one per client: a server or client not scheduled for 90 ms, whose requests make the server send again; rerun on a quieter machine): ${paused.map(([s]) => s).join("; ")}`);
}

function clientsOf(r: FidelityResult, setup: string): number {
  return r.recorded[setup]?.[0]?.runtimesSec.length ?? 1;
}

function fmt(v: number | null | undefined): string {
  return v === undefined ? "-" : v === null ? "n/a" : String(Math.round(v * 1000) / 1000);
}
