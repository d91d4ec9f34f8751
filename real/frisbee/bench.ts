import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { createImage, nodeEngine, sameFiles, unzipImage, writeDiskLikeFile } from "../image/index.js";
import { makeScratchDir, removeScratchDir } from "../output/index.js";
import { FrisbeeBenchError } from "./errors.js";
import { runParts, type PartsContext, type PartsResult } from "./bench-parts.js";
import { processCpuUs } from "./thread-cpu.js";

/** The byte-for-byte check of every target (real/image/compare.ts), for the benches beside this one. */
export { sameFiles };

const MIB = 2 ** 20;
const LO = "127.0.0.1";
/** How long one transfer may take before the bench gives up on it. */
const TRANSFER_TIMEOUT_MS = 300_000;

export { FrisbeeBenchError };

/** Processes the bench started and has not seen exit: killed if the bench itself exits first. */
const children = new Map<ChildProcess, (signal: NodeJS.Signals) => void>();
let killOnExit = false;

export interface FrisbeeBenchOptions {
  sizeBytes: number;
  seed: number;
  /** The server's bandwidth target, e.g. "2Gbit", and the same in bits per second. */
  bandwidth: string;
  bandwidthBps: number;
  port: number;
  dir?: string;
  /** Also measure each part of the machine alone (bench-parts.ts); on unless false. */
  parts?: boolean;
  log: (line: string) => void;
}

export interface Timing {
  seconds: number;
  /** Disk MiB per second. */
  mibPerSec: number;
  identical: boolean;
  /** The host's 1-minute load average when the run ended: a wall time means little without it. */
  load1: number;
  /**
   * Datagrams the kernel dropped for a full socket receive buffer during the run (the host's Udp
   * RcvbufErrors, so other programs' drops count too); null where /proc/net/snmp is not readable.
   */
  rcvbufErrors: number | null;
  /**
   * CPU seconds (user + system) of each process of the run, by name (server, receiver 1, ...;
   * udp-sender, udp-receiver), and their sum; null where they could not be read (no /usr/bin/time).
   */
  cpuSec: Record<string, number> | null;
  cpuTotalSec: number | null;
}

/** The host's UDP RcvbufErrors counter, or null where /proc/net/snmp is not readable. */
export function udpRcvbufErrors(): number | null {
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Udp: "));
    const [names, values] = lines.map((l) => l.trim().split(/\s+/));
    const at = names?.indexOf("RcvbufErrors") ?? -1;
    const value = at > 0 ? Number(values?.[at]) : NaN;
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

export interface FrisbeeBenchResult {
  sizeMiB: number;
  imageMiB: number;
  chunks: number;
  /** Inflating and writing the image from a local file (image unzip): the most a receiver can do. */
  limit: Timing;
  ours1: Timing;
  ours2: Timing;
  /** udpcast's udp-sender and its one udp-receiver, each from launching the receiver to its own exit. */
  udpcast: { sender: Timing; receiver: Timing } | null;
  udpcastMissing: string | null;
  /** ours / udpcast's receiver, 1 receiver: both from launching the receivers to the disk being written. */
  ratioVsUdpcast: number | null;
  /** ours / udpcast's sender (it exits before its receiver has finished writing and closed). */
  ratioVsUdpcastSender: number | null;
  /** 2 receivers / 1 receiver. */
  twoVsOne: number;
  /** limit / ours: 1 = as fast as a local restore. */
  fractionOfLimit: number;
  /** ours / udpcast by CPU seconds of all the run's processes (1 receiver), which a loaded host moves less than wall time. */
  cpuRatioVsUdpcast: number | null;
  /** Each part of the machine alone, and which of them limits the load; null when not asked for. */
  parts: PartsResult | null;
}

/**
 * `testbed bench frisbee`: a seeded disk-like file and its image, then wall times (launching the
 * receivers to the last one finishing, targets checked byte for byte) for our frisbee with 1 and 2
 * receivers on loopback multicast, for udpcast with 1, and for a local image unzip (the limit).
 */
export async function runFrisbeeBench(o: FrisbeeBenchOptions): Promise<FrisbeeBenchResult> {
  // A folder of our own, even inside --dir: nothing already there is overwritten or removed.
  const dir = makeScratchDir("testbed-frisbee-bench-", o.dir);
  const disk = join(dir, "disk-like.raw");
  const image = join(dir, "disk-like.ndz");
  try {
    o.log(`writing a ${o.sizeBytes / MIB} MiB disk-like file (seed ${o.seed}) and its image in ${dir}`);
    await writeDiskLikeFile(disk, o.sizeBytes, o.seed);
    const made = await createImage(disk, image, { level: 4, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "segmented", jobs: 2 });
    const check = (paths: string[]): boolean => paths.every((p) => sameFiles(disk, p));
    let dropsBefore = udpRcvbufErrors();
    const timing = (seconds: number, identical: boolean, cpuSec: Record<string, number> | null = null): Timing => {
      const drops = udpRcvbufErrors();
      const rcvbufErrors = drops === null || dropsBefore === null ? null : drops - dropsBefore;
      dropsBefore = drops;
      const cpuTotalSec = cpuSec === null ? null : Object.values(cpuSec).reduce((a, b) => a + b, 0);
      return { seconds, mibPerSec: o.sizeBytes / MIB / seconds, identical, load1: loadavg()[0] ?? 0, rcvbufErrors, cpuSec, cpuTotalSec };
    };

    o.log("limit: image unzip of the image from a local file");
    dropsBefore = udpRcvbufErrors();
    const limitOut = join(dir, "limit.raw");
    const limitStart = performance.now();
    await unzipImage(image, limitOut, { zeroFill: false });
    const limit = timing(seconds(limitStart), check([limitOut]));

    const ours1 = await ours(o, dir, image, 1, timing, check);
    const ours2 = await ours(o, dir, image, 2, timing, check);
    const missing = udpcastMissing();
    const udpcast = missing === null ? await udp(o, dir, disk, timing, check) : null;
    const parts = o.parts === false ? null : await runParts(partsContext(o, dir, image));
    const cpuOurs = ours1.cpuTotalSec;
    const cpuUdp = udpcast?.receiver.cpuTotalSec ?? null;
    return {
      sizeMiB: o.sizeBytes / MIB,
      imageMiB: made.imageBytes / MIB,
      chunks: made.chunks,
      limit,
      ours1,
      ours2,
      udpcast,
      udpcastMissing: missing,
      ratioVsUdpcast: udpcast === null ? null : ours1.seconds / udpcast.receiver.seconds,
      ratioVsUdpcastSender: udpcast === null ? null : ours1.seconds / udpcast.sender.seconds,
      twoVsOne: ours2.seconds / ours1.seconds,
      fractionOfLimit: limit.seconds / ours1.seconds,
      cpuRatioVsUdpcast: cpuOurs === null || cpuUdp === null || cpuUdp <= 0 ? null : cpuOurs / cpuUdp,
      parts,
    };
  } finally {
    removeScratchDir(dir);
  }
}

function groupOf(port: number): string {
  return `239.196.${(port >> 8) & 255}.${port & 255}`;
}

/** Our frisbeed on the bench's group and port, serving `image` until stopped, ready when it returns. */
async function startServer(o: FrisbeeBenchOptions, image: string): Promise<Run> {
  const net = ["-m", groupOf(o.port), "-p", String(o.port), "-i", LO];
  const server = run(process.execPath, [testbedJs(), "frisbeed", "--image", image, ...net, "--bandwidth", o.bandwidth, "--idle-exit", "0"]);
  try {
    await server.waitFor("frisbee.serving");
  } catch (error) {
    server.kill("SIGTERM");
    throw error;
  }
  return server;
}

function partsContext(o: FrisbeeBenchOptions, dir: string, image: string): PartsContext {
  const imageBlocks = Math.ceil(statSync(image).size / 1024);
  return { dir, image, imageBlocks, group: groupOf(o.port), port: o.port, iface: LO, bandwidthBps: o.bandwidthBps, log: o.log, run, startServer: () => startServer(o, image) };
}

async function ours(o: FrisbeeBenchOptions, dir: string, image: string, receivers: number, timing: (s: number, ok: boolean, cpu: Record<string, number> | null) => Timing, check: (p: string[]) => boolean): Promise<Timing> {
  o.log(`ours: frisbeed --bandwidth ${o.bandwidth}, ${receivers} frisbee receiver(s)`);
  const net = ["-m", groupOf(o.port), "-p", String(o.port), "-i", LO];
  const server = await startServer(o, image);
  try {
    const targets = Array.from({ length: receivers }, (_, i) => join(dir, `ours-${receivers}-${i}.raw`));
    const serverCpuBefore = server.child.pid === undefined ? null : processCpuUs(server.child.pid);
    const start = performance.now();
    const clients = targets.map((t) => run(process.execPath, [testbedJs(), "frisbee", ...net, t], { timed: true }));
    const codes = await Promise.all(clients.map((c) => c.exited));
    const took = seconds(start);
    const serverCpuAfter = server.child.pid === undefined ? null : processCpuUs(server.child.pid);
    if (codes.some((c) => c !== 0)) throw new FrisbeeBenchError(`bench frisbee: a frisbee receiver failed: ${clients.map((c) => c.stderr()).join(" | ")}`);
    const cpu: Record<string, number | null> = { frisbeed: serverCpuBefore === null || serverCpuAfter === null ? null : (serverCpuAfter - serverCpuBefore) / 1e6 };
    clients.forEach((c, i) => (cpu[`frisbee ${i + 1}`] = c.cpuSec()));
    return timing(took, check(targets), allKnown(cpu));
  } finally {
    server.kill("SIGTERM");
    await server.exited;
  }
}

/** The figures if every one is known, else null (a sum of some would mislead). */
function allKnown(cpu: Record<string, number | null>): Record<string, number> | null {
  return Object.values(cpu).every((v) => v !== null) ? (cpu as Record<string, number>) : null;
}

/**
 * udpcast the way ours runs: the sender is started first and is ready (its control socket open)
 * before the clock starts at the receiver's launch. `--rexmit-hello-interval 10` makes the sender
 * announce itself every 10 ms, as frisbeed answers at once; without it the receiver waits about 2 s
 * in udpcast's handshake and the baseline idles. Its own multicast group (from the port), never
 * udpcast's default 239.0.0.1, so that runs at once on one host do not mix.
 */
async function udp(o: FrisbeeBenchOptions, dir: string, disk: string, timing: (s: number, ok: boolean, cpu: Record<string, number> | null) => Timing, check: (p: string[]) => boolean): Promise<{ sender: Timing; receiver: Timing }> {
  o.log("udpcast: udp-sender --rexmit-hello-interval 10 and one udp-receiver (it cannot run two receivers on one host)");
  const target = join(dir, "udpcast.raw");
  const portbase = o.port + 2;
  const base = ["--interface", "lo", "--portbase", String(portbase), "--nokbd"];
  const group = `239.197.${(portbase >> 8) & 255}.${portbase & 255}`;
  const sender = run("udp-sender", [...base, "--file", disk, "--min-receivers", "1", "--rexmit-hello-interval", "10", "--mcast-data-address", group], { timed: true });
  try {
    await sender.waitFor("Broadcasting control");
    const start = performance.now();
    const receiver = run("udp-receiver", [...base, "--file", target], { timed: true });
    const senderDone = sender.exited.then((code) => ({ code, seconds: seconds(start) }));
    const receiverDone = receiver.exited.then((code) => ({ code, seconds: seconds(start) }));
    const [s, r] = await Promise.all([senderDone, receiverDone]);
    if (r.code !== 0 || s.code !== 0) throw new FrisbeeBenchError(`bench frisbee: udpcast failed: receiver ${r.code}, sender ${s.code}: ${receiver.stderr()} ${sender.stderr()}`);
    const identical = check([target]);
    // One run: its drops, load and CPU are the receiver's and the sender's alike.
    const receiverTiming = timing(r.seconds, identical, allKnown({ "udp-sender": sender.cpuSec(), "udp-receiver": receiver.cpuSec() }));
    return { sender: { ...receiverTiming, seconds: s.seconds, mibPerSec: (receiverTiming.mibPerSec * r.seconds) / s.seconds }, receiver: receiverTiming };
  } finally {
    sender.kill("SIGTERM");
    await sender.exited;
  }
}

function udpcastMissing(): string | null {
  const r = spawnSync("udp-sender", ["--help"], { encoding: "utf8" });
  return r.error === undefined ? null : "udp-sender not found (Debian package udpcast)";
}

export interface Run {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
  /** What it printed on stdout so far. */
  stdout: () => string;
  waitFor: (text: string) => Promise<void>;
  /** Signals the process (and, when timed, the /usr/bin/time that runs it). */
  kill: (signal: NodeJS.Signals) => void;
  /** CPU seconds (user + system) it used, once it has exited, if it was timed; else null. */
  cpuSec: () => number | null;
}

/** GNU time, which reports a command's CPU when it exits; absent on some hosts (then no CPU figures). */
const TIME = "/usr/bin/time";
const CPU_MARK = "testbed-cpu";

/**
 * Starts a command. `timed`: under /usr/bin/time (when present), in a process group of its own so
 * that a signal reaches the command and not only time.
 */
export function run(command: string, args: string[], how: { timed?: boolean } = {}): Run {
  const timed = how.timed === true && existsSync(TIME);
  const child = timed
    ? spawn(TIME, ["-f", `${CPU_MARK} %U %S`, command, ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true })
    : spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const kill = (signal: NodeJS.Signals): void => {
    try {
      if (timed && child.pid !== undefined) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // Already gone.
    }
  };
  children.set(child, kill);
  if (!killOnExit) {
    killOnExit = true;
    // An interrupted bench exits at once; its servers (idle exit off) must not outlive it.
    process.on("exit", () => {
      for (const k of children.values()) k("SIGKILL");
    });
  }
  let err = "";
  let out = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  const watchers: [string, () => void][] = [];
  child.stderr?.on("data", (b: Buffer) => {
    err += b.toString();
    for (const [text, resolve] of watchers) if (err.includes(text)) resolve();
  });
  const timer = setTimeout(() => kill("SIGKILL"), TRANSFER_TIMEOUT_MS);
  const exited = new Promise<number | null>((resolve) => {
    child.on("error", () => {
      children.delete(child);
      resolve(-1);
    });
    child.on("close", (code) => {
      children.delete(child);
      clearTimeout(timer);
      resolve(code);
    });
  });
  const waitFor = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (err.includes(text)) return resolve();
      watchers.push([text, resolve]);
      void exited.then((code) => reject(new FrisbeeBenchError(`bench frisbee: ${command} exited ${code} before saying "${text}": ${err.trim().split("\n").pop() ?? ""}`)));
    });
  const cpuSec = (): number | null => {
    const m = new RegExp(`${CPU_MARK} ([0-9.]+) ([0-9.]+)`).exec(err);
    return m === null ? null : Number(m[1]) + Number(m[2]);
  };
  const stderr = (): string => err.replace(new RegExp(`${CPU_MARK} .*\n?`), "").trim();
  return { child, exited, stderr, stdout: () => out, waitFor, kill, cpuSec };
}

export function testbedJs(): string {
  // Built, this file sits in dist/ beside bin/testbed.js; run from its source (tests), the build's.
  const built = fileURLToPath(new URL("../../bin/testbed.js", import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL("../../dist/bin/testbed.js", import.meta.url));
}

function seconds(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}
