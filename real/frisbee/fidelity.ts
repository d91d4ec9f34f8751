import { join } from "node:path";
import { createImage, nodeEngine, writeDiskLikeFile } from "../image/index.js";
import { makeScratchDir, removeScratchDir } from "../output/index.js";
import { wallClock } from "../runtime/index.js";
import { FrisbeeBenchError, run, sameFiles, testbedJs, type Run } from "./bench.js";

const LO = "127.0.0.1";
const BLOCK_BYTES = 1024;

/** One real run's setup: clients started at their offsets, the server losing `sendDrop` of what it sends. */
export interface RealSetup {
  clients: number;
  /** When each client is launched, from the first, in milliseconds. */
  startOffsetsMs: readonly number[];
  /** Fraction of the server's datagrams dropped as it sends them (loss at the server). */
  sendDrop: number;
  seed: number;
}

/** What a real run measured: the figures `bench fidelity` compares with the models'. */
export interface RealMeasures {
  /** Each client's time from its start to its image written (as the client measures it). */
  runtimesSec: number[];
  blocksSent: number;
  requests: number;
  prequests: number;
  /** Seconds the server had work (its tally's `busy`): blocks sent over it is the rate it kept. */
  serverBusySec: number;
  /** Every target was the disk byte for byte. */
  identical: boolean;
}

/** A disk-like file and its image, in a scratch folder of our own; `close` removes it. */
export interface FidelityImage {
  dir: string;
  disk: string;
  image: string;
  diskBytes: number;
  imageBytes: number;
  /** Blocks the image is sent in (its last chunk short). */
  imageBlocks: number;
  close(): void;
}

export async function makeFidelityImage(sizeBytes: number, seed: number, parentDir?: string): Promise<FidelityImage> {
  const dir = makeScratchDir("testbed-fidelity-bench-", parentDir);
  const disk = join(dir, "disk-like.raw");
  const image = join(dir, "disk-like.ndz");
  try {
    await writeDiskLikeFile(disk, sizeBytes, seed);
    const made = await createImage(disk, image, { level: 4, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "segmented", jobs: 2 });
    return { dir, disk, image, diskBytes: sizeBytes, imageBytes: made.imageBytes, imageBlocks: Math.ceil(made.imageBytes / BLOCK_BYTES), close: () => removeScratchDir(dir) };
  } catch (error) {
    removeScratchDir(dir);
    throw error;
  }
}

/**
 * Runs our frisbeed and `clients` frisbee processes on loopback multicast, each client launched at
 * its offset, the server dropping `sendDrop` of its datagrams; returns what each side counted.
 */
export async function runRealSetup(img: FidelityImage, s: RealSetup, net: { port: number; burst: number; gapUs: number }): Promise<RealMeasures> {
  const group = `239.197.${(net.port >> 8) & 255}.${net.port & 255}`;
  const common = ["-m", group, "-p", String(net.port), "-i", LO];
  const pacing = ["--burst", String(net.burst), "--gap-us", String(net.gapUs)];
  const drop = s.sendDrop > 0 ? ["--drop-sent", String(s.sendDrop), "--seed", String(s.seed)] : [];
  const server = run(process.execPath, [testbedJs(), "frisbeed", "--image", img.image, ...common, ...pacing, ...drop, "--idle-exit", "0", "--no-check"]);
  const clients: Run[] = [];
  try {
    await server.waitFor("frisbee.serving");
    const targets = Array.from({ length: s.clients }, (_, i) => join(img.dir, `real-${i}.raw`));
    const clock = wallClock();
    for (let i = 0; i < s.clients; i++) {
      const waitMs = (s.startOffsetsMs[i] ?? 0) - clock.now() / 1000;
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
      clients.push(run(process.execPath, [testbedJs(), "frisbee", ...common, "--seed", String(s.seed * 1000 + i), "--json", targets[i] as string]));
    }
    const codes = await Promise.all(clients.map((c) => c.exited));
    if (codes.some((c) => c !== 0)) throw new FrisbeeBenchError(`bench fidelity: a frisbee client failed: ${clients.map((c) => c.stderr()).join(" | ")}`);
    const outcomes = clients.map((c) => JSON.parse(c.stdout().trim().split("\n").pop() ?? "{}") as { seconds: number; counters: { requests: number; prequests: number } });
    server.child.kill("SIGTERM");
    await server.exited;
    const tally = serverTally(server.stdout());
    const identical = targets.every((t) => sameFiles(img.disk, t));
    return { runtimesSec: outcomes.map((o) => o.seconds), ...tally, identical };
  } finally {
    for (const c of clients) c.child.kill("SIGKILL");
    server.child.kill("SIGKILL");
    await server.exited;
  }
}

/** Reads frisbeed's closing line: blocks sent, requests, partial requests and the seconds it had work. */
export function serverTally(stdout: string): { blocksSent: number; requests: number; prequests: number; serverBusySec: number } {
  const m = /frisbeed: sent (\d+) blocks .* (\d+) requests, (\d+) partial requests.*, busy (\d+(?:\.\d+)?) s/.exec(stdout);
  if (m === null) throw new FrisbeeBenchError(`bench fidelity: frisbeed did not print its tally (stdout: ${JSON.stringify(stdout.slice(-200))})`);
  return { blocksSent: Number(m[1]), requests: Number(m[2]), prequests: Number(m[3]), serverBusySec: Number(m[4]) };
}
