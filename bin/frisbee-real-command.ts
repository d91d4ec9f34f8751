import { isIPv4 } from "node:net";
import type { Command } from "commander";
import { US_PER_SEC } from "../core/engine/index.js";
import { PROGRESS_LEVEL, type ProgressLevel } from "../core/frisbee/messages.js";
import { pacingForBandwidth, type BurstPacing } from "../core/frisbee/rate.js";
import { runFrisbeeClient, type ClientProgress, type FrisbeeRunOptions } from "../real/frisbee/client.js";
import { startFrisbeed, type FrisbeedOptions } from "../real/frisbee/server.js";
import { openStore } from "../real/store/index.js";
import { parseRateBps } from "../scenarios/units.js";
import { parseWhole, UsageError } from "./errors.js";
import { report } from "./failure.js";
import { EXIT_FAILED, EXIT_INCOMPLETE, exitCleanlyOnInterrupt } from "./interrupt.js";
import { registerFidelityBench } from "./fidelity-bench-command.js";
import { registerFrisbeeBench } from "./frisbee-bench-command.js";
import { fromNodeConfig, type NodeConfigFlags } from "./nodeconfig-command.js";
import { progressBar, type Progress } from "./progress.js";

const MIB = 2 ** 20;
/** `frisbee --timeout` ran out: no frisbeed was heard for that long (README, exit codes). */
export const EXIT_NO_SERVER = 4;

interface CommonFlags {
  mcastaddr: string;
  port: string;
  interface?: string;
  heartbeat?: string;
  drop?: string;
  seed?: string;
}

interface ServerFlags extends CommonFlags {
  image: string;
  check: boolean;
  bandwidth?: string;
  burst?: string;
  gapUs?: string;
  dynamic?: boolean;
  reportLevel: string;
  reportOnce?: boolean;
  idleExit: string;
  db?: string;
  dropSent?: string;
}

interface ClientFlags extends CommonFlags {
  timeout?: string;
  zeroFill?: boolean;
  fixedSize?: boolean;
  json?: boolean;
}

/** `testbed frisbeed` and `testbed frisbee`: real Frisbee over UDP multicast. */
export function registerFrisbeeRealCommands(program: Command, groups: { bench: Command }): void {
  registerFrisbeeBench(groups.bench);
  registerFidelityBench(groups.bench);
  program
    .command("frisbeed")
    .description("serve a disk image to Frisbee clients over UDP multicast (runs until idle exit or SIGINT/SIGTERM)")
    .requiredOption("--image <path>", "image file (.ndz)")
    .requiredOption("-m, --mcastaddr <group>", "multicast group, e.g. 239.192.1.1")
    .requiredOption("-p, --port <n>", "UDP port")
    .option("-i, --interface <addr>", "IPv4 address of the interface to use (e.g. 127.0.0.1)")
    .option("--bandwidth <rate>", "bandwidth target, e.g. 72Mbit or 1Gbit (sets the burst size for a 2 ms gap)")
    .option("--burst <n>", "packets per burst (with --gap-us)")
    .option("--gap-us <n>", "microseconds from the start of one burst to the next (with --burst)")
    .option("--dynamic", "adapt the burst size to loss every 500 ms")
    .option("-H, --heartbeat <s>", "ask clients for a progress report every this many seconds")
    .option("--report-level <level>", "what progress reports carry: none, summary or full (client statistics)", "summary")
    .option("--report-once", "ask each client for one report, at a random time within the -H interval after it joins (without -H: when it joins)")
    .option("--idle-exit <s>", "exit after this many seconds with no requests or reports (0: never)", "1800")
    .option("--db <path>", "record progress reports and other events in this store")
    .option("--drop <rate>", "testing: drop this fraction of arriving datagrams (seeded)")
    .option("--drop-sent <rate>", "testing: drop this fraction of the datagrams we send (seeded; loss at the server)")
    .option("--seed <n>", "testing: seed for --drop and --drop-sent")
    .option("--no-check", "testing: serve the image without checking every chunk header first")
    .addHelpText("after", "\nExample:\n  testbed frisbeed --image disk.ndz -m 239.192.1.1 -p 7700 -i 127.0.0.1 --bandwidth 500Mbit -H 5 --db testbed.db")
    .action((flags: ServerFlags) => {
      const options = serverOptions(flags);
      const store = flags.db === undefined ? null : openStore(flags.db);
      void serve({ ...options, store });
    });

  program
    .command("frisbee")
    .description("load a disk image from a frisbeed onto a file or block device")
    .argument("<target>", "file or block device to write")
    .option("-m, --mcastaddr <group>", "multicast group of the server (or --tmcd)")
    .option("-p, --port <n>", "UDP port of the server (or --tmcd)")
    .option("--tmcd <host:port>", "ask the node-configuration server what to load (its loadinfo answer gives group, port and heartbeat)")
    .option("--part <n>", "with --tmcd: the partition to load (default: the first loadinfo line)")
    .option("-i, --interface <addr>", "IPv4 address of the interface to use (e.g. 127.0.0.1)")
    .option("-H, --heartbeat <s>", "report progress to the server every this many seconds")
    .option("--timeout <s>", `give up when no frisbeed has been heard for this many seconds, before joining or during the load (exit ${EXIT_NO_SERVER}); default: wait for ever`)
    .option("--zero-fill", "write free space as zeros (else it is skipped)")
    .option("--fixed-size", "treat an existing file as a disk of its present size (as a block device), refusing an image that does not fit")
    .option("--json", "print the outcome as one JSON object")
    .option("--drop <rate>", "testing: drop this fraction of arriving datagrams (seeded)")
    .option("--seed <n>", "testing: seed for --drop and the request order")
    .addHelpText("after", `\nExit codes: 0 loaded, 1 failed, 2 bad input, 3 a target written in place left incomplete, ${EXIT_NO_SERVER} no frisbeed heard for --timeout.\n\nExample:\n  testbed frisbee -m 239.192.1.1 -p 7700 -i 127.0.0.1 -H 5 --timeout 60 /dev/sdb`)
    .action(async (target: string, flags: ClientFlags & NodeConfigFlags) => {
      const options = clientOptions(target, { ...flags, ...(await fromNodeConfig(flags)) });
      await load(options, flags.json === true);
    });
}

/** An IPv4 multicast group: 224.0.0.0 to 239.255.255.255. */
function isMulticastGroup(text: string): boolean {
  const first = Number(text.split(".")[0]);
  return isIPv4(text) && first >= 224 && first <= 239;
}

function common(flags: CommonFlags): Pick<FrisbeedOptions, "group" | "port" | "iface" | "heartbeatSec"> & { dropRate?: number; seed?: number } {
  if (!isMulticastGroup(flags.mcastaddr)) throw new UsageError(`-m: expected an IPv4 multicast group (224.0.0.0 to 239.255.255.255), got "${flags.mcastaddr}"`);
  if (flags.interface !== undefined && !isIPv4(flags.interface)) throw new UsageError(`-i: expected the IPv4 address of an interface, got "${flags.interface}"`);
  const drop = flags.drop === undefined ? undefined : Number(flags.drop);
  if (drop !== undefined && !(drop >= 0 && drop < 1)) throw new UsageError(`--drop: expected a fraction from 0 to below 1, got "${flags.drop}"`);
  return {
    group: flags.mcastaddr,
    port: parseWhole("--port", flags.port, 1, 65_535),
    iface: flags.interface ?? null,
    heartbeatSec: flags.heartbeat === undefined ? 0 : parseWhole("--heartbeat", flags.heartbeat, 0, 86_400),
    ...(drop === undefined ? {} : { dropRate: drop }),
    ...(flags.seed === undefined ? {} : { seed: parseWhole("--seed", flags.seed, 0) }),
  };
}

function serverOptions(flags: ServerFlags): FrisbeedOptions {
  return {
    ...common(flags),
    imagePath: flags.image,
    checkImage: flags.check,
    pacing: pacing(flags),
    dynamic: flags.dynamic === true,
    progressLevel: reportLevel(flags.reportLevel),
    progressOnce: flags.reportOnce === true,
    idleExitSec: parseWhole("--idle-exit", flags.idleExit, 0, 10_000_000),
    ...dropSent(flags.dropSent),
    store: null,
    log: (line) => process.stderr.write(`frisbeed: ${line}\n`),
  };
}

function dropSent(text: string | undefined): { sendDropRate?: number } {
  if (text === undefined) return {};
  const rate = Number(text);
  if (!(text.trim() !== "" && rate >= 0 && rate < 1)) throw new UsageError(`--drop-sent: expected a fraction from 0 to below 1, got "${text}"`);
  return { sendDropRate: rate };
}

function reportLevel(text: string): ProgressLevel {
  if (text !== "none" && text !== "summary" && text !== "full") throw new UsageError(`--report-level: expected none, summary or full, got "${text}"`);
  return PROGRESS_LEVEL[text];
}

function pacing(flags: ServerFlags): BurstPacing {
  if (flags.bandwidth !== undefined && (flags.burst !== undefined || flags.gapUs !== undefined)) {
    throw new UsageError("--bandwidth and --burst/--gap-us are alternatives: give one or the other");
  }
  if (flags.bandwidth !== undefined) {
    const bps = parseRateBps(flags.bandwidth);
    if (bps === null || !(bps > 0)) throw new UsageError(`--bandwidth: expected a rate such as 72Mbit or 1Gbit, got "${flags.bandwidth}"`);
    return pacingForBandwidth(bps);
  }
  if ((flags.burst === undefined) !== (flags.gapUs === undefined)) throw new UsageError("--burst and --gap-us go together");
  if (flags.burst !== undefined && flags.gapUs !== undefined) {
    return { burstPackets: parseWhole("--burst", flags.burst, 1, 1_000_000), burstGapUs: parseWhole("--gap-us", flags.gapUs, 1, 10_000_000) };
  }
  return pacingForBandwidth(72e6);
}

async function serve(options: FrisbeedOptions): Promise<void> {
  try {
    // Ctrl-C before the server is up (while the image is checked) stops at once; once up, it stops the server.
    const uninstall = exitCleanlyOnInterrupt(() => "the server never started", options.store);
    const d = await startFrisbeed(options);
    uninstall();
    const stop = (): void => d.stop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    await d.done;
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    const s = d.server.stats;
    console.log(`frisbeed: sent ${s.blocksSent} blocks (${s.blocksResent} again), ${s.joins} joins, ${s.leaves} leaves, ${s.progressReports} progress reports (${s.progressLost} lost), ${s.requests} requests, ${s.prequests} partial requests, ${d.netStats.sendDropped} datagrams dropped by --drop-sent, busy ${(d.server.busyUsNow() / 1e6).toFixed(3)} s`);
    process.exitCode = 0;
  } catch (error) {
    process.exitCode = report(error);
  } finally {
    options.store?.close();
  }
}

function clientOptions(target: string, flags: ClientFlags): FrisbeeRunOptions {
  return {
    ...common(flags),
    targetPath: target,
    zeroFill: flags.zeroFill === true,
    fixedSize: flags.fixedSize === true,
    ...(flags.timeout === undefined ? {} : { timeoutSec: parseWhole("--timeout", flags.timeout, 1, 10_000_000) }),
  };
}

/** A client that has waited this long for a server says so, once, on stderr. */
const WAITING_NOTICE_US = 1_000_000;

/** What the client is doing, for the progress line: waiting for a server, or loading. */
export function progressLine(options: FrisbeeRunOptions, bar: Progress): (p: ClientProgress) => void {
  let noticed = false;
  return (p) => {
    if (!p.joined) {
      const waitedSec = Math.floor(p.elapsedUs / US_PER_SEC);
      if (!noticed && p.elapsedUs >= WAITING_NOTICE_US) {
        noticed = true;
        const giveUp = options.timeoutSec === undefined ? "--timeout S gives up" : `giving up after ${options.timeoutSec} s`;
        process.stderr.write(`frisbee: waiting for a frisbeed on group ${options.group} port ${options.port} (asking every second; ${giveUp})\n`);
      }
      bar.update(0, `waiting for a frisbeed on ${options.group} port ${options.port}, ${waitedSec} s`);
      return;
    }
    if (p.chunks === 0) return;
    const mibPerSec = p.elapsedUs > 0 ? p.bytesWritten / MIB / (p.elapsedUs / US_PER_SEC) : 0;
    bar.update(p.chunksWritten / p.chunks, `chunks ${p.chunksWritten}/${p.chunks} ${mibPerSec.toFixed(1)} MiB/s`);
  };
}

async function load(options: FrisbeeRunOptions, json: boolean): Promise<void> {
  // A file target is a temporary file until whole: an interrupt removes it; a device is reported incomplete.
  exitCleanlyOnInterrupt();
  const bar = progressBar("frisbee");
  try {
    const outcome = await runFrisbeeClient({ ...options, onProgress: progressLine(options, bar) });
    bar.done();
    const seconds = outcome.elapsedUs / 1e6;
    if (json) {
      console.log(JSON.stringify({ ok: outcome.ok, error: outcome.error, timedOut: outcome.timedOut, incomplete: outcome.incomplete, clientId: outcome.clientId, chunks: outcome.chunks, bytesWritten: outcome.bytesWritten, seconds, counters: outcome.counters, net: outcome.netStats, startedAtEpochUs: outcome.startedAtEpochUs, socketDrops: outcome.socketDrops }));
    } else if (outcome.ok) {
      console.log(`frisbee: wrote ${outcome.chunks} chunks, ${(outcome.bytesWritten / MIB).toFixed(1)} MiB to ${options.targetPath} in ${seconds.toFixed(2)} s (${(outcome.bytesWritten / MIB / Math.max(seconds, 1e-6)).toFixed(1)} MiB/s)`);
    }
    if (!outcome.ok) console.error(`testbed: frisbee: ${outcome.error ?? "failed"}`);
    process.exitCode = outcome.ok ? 0 : outcome.incomplete ? EXIT_INCOMPLETE : outcome.timedOut ? EXIT_NO_SERVER : EXIT_FAILED;
  } catch (error) {
    bar.done();
    process.exitCode = report(error);
  }
}
