import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { createImage, nodeEngine, unzipImage, writeDiskLikeFile } from "../image/index.js";
import { makeScratchDir, removeScratchDir } from "../output/index.js";

const MIB = 2 ** 20;
const LO = "127.0.0.1";
/** How long one transfer may take before the bench gives up on it. */
const TRANSFER_TIMEOUT_MS = 300_000;

/** A run of the bench that failed (a receiver or udpcast exited badly): one line, exit 1. */
export class FrisbeeBenchError extends Error {
  override readonly name = "FrisbeeBenchError";
}

/** Processes the bench started and has not seen exit: killed if the bench itself exits first. */
const children = new Set<ChildProcess>();
let killOnExit = false;

export interface FrisbeeBenchOptions {
  sizeBytes: number;
  seed: number;
  /** The server's bandwidth target, e.g. "2Gbit". */
  bandwidth: string;
  port: number;
  dir?: string;
  log: (line: string) => void;
}

export interface Timing {
  seconds: number;
  /** Disk MiB per second. */
  mibPerSec: number;
  identical: boolean;
}

export interface FrisbeeBenchResult {
  sizeMiB: number;
  imageMiB: number;
  chunks: number;
  /** Inflating and writing the image from a local file (image unzip): the most a receiver can do. */
  limit: Timing;
  ours1: Timing;
  ours2: Timing;
  udpcast: Timing | null;
  udpcastMissing: string | null;
  /** ours / udpcast, 1 receiver. */
  ratioVsUdpcast: number | null;
  /** 2 receivers / 1 receiver. */
  twoVsOne: number;
  /** limit / ours: 1 = as fast as a local restore. */
  fractionOfLimit: number;
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
    const timing = (seconds: number, identical: boolean): Timing => ({ seconds, mibPerSec: o.sizeBytes / MIB / seconds, identical });

    o.log("limit: image unzip of the image from a local file");
    const limitOut = join(dir, "limit.raw");
    const limitStart = performance.now();
    await unzipImage(image, limitOut, { zeroFill: false });
    const limit = timing(seconds(limitStart), check([limitOut]));

    const ours1 = await ours(o, dir, image, 1, timing, check);
    const ours2 = await ours(o, dir, image, 2, timing, check);
    const missing = udpcastMissing();
    const udpcast = missing === null ? await udp(o, dir, disk, timing, check) : null;
    return {
      sizeMiB: o.sizeBytes / MIB,
      imageMiB: made.imageBytes / MIB,
      chunks: made.chunks,
      limit,
      ours1,
      ours2,
      udpcast,
      udpcastMissing: missing,
      ratioVsUdpcast: udpcast === null ? null : ours1.seconds / udpcast.seconds,
      twoVsOne: ours2.seconds / ours1.seconds,
      fractionOfLimit: limit.seconds / ours1.seconds,
    };
  } finally {
    removeScratchDir(dir);
  }
}

async function ours(o: FrisbeeBenchOptions, dir: string, image: string, receivers: number, timing: (s: number, ok: boolean) => Timing, check: (p: string[]) => boolean): Promise<Timing> {
  o.log(`ours: frisbeed --bandwidth ${o.bandwidth}, ${receivers} frisbee receiver(s)`);
  const group = `239.196.${(o.port >> 8) & 255}.${o.port & 255}`;
  const net = ["-m", group, "-p", String(o.port), "-i", LO];
  const server = run(process.execPath, [testbedJs(), "frisbeed", "--image", image, ...net, "--bandwidth", o.bandwidth, "--idle-exit", "0"]);
  try {
    await server.waitFor("frisbee.serving");
    const targets = Array.from({ length: receivers }, (_, i) => join(dir, `ours-${receivers}-${i}.raw`));
    const start = performance.now();
    const clients = targets.map((t) => run(process.execPath, [testbedJs(), "frisbee", ...net, t]));
    const codes = await Promise.all(clients.map((c) => c.exited));
    const took = seconds(start);
    if (codes.some((c) => c !== 0)) throw new FrisbeeBenchError(`bench frisbee: a frisbee receiver failed: ${clients.map((c) => c.stderr()).join(" | ")}`);
    return timing(took, check(targets));
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
  }
}

async function udp(o: FrisbeeBenchOptions, dir: string, disk: string, timing: (s: number, ok: boolean) => Timing, check: (p: string[]) => boolean): Promise<Timing> {
  o.log("udpcast: udp-sender and one udp-receiver (it cannot run two receivers on one host)");
  const target = join(dir, "udpcast.raw");
  const base = ["--interface", "lo", "--portbase", String(o.port + 2), "--nokbd"];
  const start = performance.now();
  const receiver = run("udp-receiver", [...base, "--file", target]);
  // Hello every 10 ms: the receiver is found at once rather than at the default interval, so the
  // baseline's time is its transfer (the fair baseline).
  const sender = run("udp-sender", [...base, "--file", disk, "--min-receivers", "1", "--rexmit-hello-interval", "10"]);
  const [rc, sc] = await Promise.all([receiver.exited, sender.exited]);
  const took = seconds(start);
  if (rc !== 0 || sc !== 0) throw new FrisbeeBenchError(`bench frisbee: udpcast failed: receiver ${rc}, sender ${sc}: ${receiver.stderr()} ${sender.stderr()}`);
  return timing(took, check([target]));
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
}

export function run(command: string, args: string[]): Run {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  if (!killOnExit) {
    killOnExit = true;
    // An interrupted bench exits at once; its servers (idle exit off) must not outlive it.
    process.on("exit", () => {
      for (const c of children) c.kill("SIGKILL");
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
  const timer = setTimeout(() => child.kill("SIGKILL"), TRANSFER_TIMEOUT_MS);
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
  return { child, exited, stderr: () => err.trim(), stdout: () => out, waitFor };
}

export function testbedJs(): string {
  // Built, this file sits in dist/ beside bin/testbed.js; run from its source (tests), the build's.
  const built = fileURLToPath(new URL("../../bin/testbed.js", import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL("../../dist/bin/testbed.js", import.meta.url));
}

function seconds(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}

/** Compares two files 1 MiB at a time. */
export function sameFiles(a: string, b: string): boolean {
  const fa = openSync(a, "r");
  const fb = openSync(b, "r");
  try {
    const ba = Buffer.alloc(MIB);
    const bb = Buffer.alloc(MIB);
    for (let at = 0; ; at += MIB) {
      const na = readSync(fa, ba, 0, MIB, at);
      const nb = readSync(fb, bb, 0, MIB, at);
      if (na !== nb || ba.subarray(0, na).compare(bb.subarray(0, nb)) !== 0) return false;
      if (na === 0) return true;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}
