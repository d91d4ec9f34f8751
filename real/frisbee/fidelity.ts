import { join } from "node:path";
import { createImage, nodeEngine, writeDiskLikeFile } from "../image/index.js";
import { makeScratchDir, removeScratchDir } from "../output/index.js";
import { wallClock } from "../runtime/index.js";
import { loadavg } from "node:os";
import { FrisbeeBenchError, run, sameFiles, testbedJs, udpRcvbufErrors, type Run } from "./bench.js";

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
  /**
   * Each client's time from its start (its JOIN) to its image written, by its own clock: the
   * origin the models measure from.
   */
  runtimesSec: number[];
  /**
   * When each client started (sent its JOIN), from the first to start, in microseconds: launched
   * at its offset, a client starts only once its process is up (a few hundred ms on a loaded
   * machine, and clients launched together start apart). The models replay these.
   */
  startOffsetsUs: number[];
  /** Datagrams the kernel dropped on the clients' sockets (full receive buffers): loss nobody injected. Null where unreadable. */
  socketDrops: number | null;
  /** The host's UDP RcvbufErrors over the run (every program's, ours included); null where unreadable. */
  hostRcvbufErrors: number | null;
  /** The host's 1-minute load average when the run ended. */
  load1: number;
  /** Idle requests the clients made (no useful block for 90 ms), summed. */
  clientIdles: number;
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
  const rcvbufBefore = udpRcvbufErrors();
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
    const outcomes = clients.map((c) => clientOutcome(c.stdout()));
    server.child.kill("SIGTERM");
    await server.exited;
    const tally = serverTally(server.stdout());
    const rcvbufAfter = udpRcvbufErrors();
    const identical = targets.every((t) => sameFiles(img.disk, t));
    const firstUs = Math.min(...outcomes.map((o) => o.startedAtEpochUs));
    const drops = outcomes.map((o) => o.socketDrops);
    return {
      runtimesSec: outcomes.map((o) => o.counters.doneAtUs / 1e6),
      startOffsetsUs: outcomes.map((o) => o.startedAtEpochUs - firstUs),
      socketDrops: drops.some((d) => d === null) ? null : (drops as number[]).reduce((a, b) => a + b, 0),
      hostRcvbufErrors: rcvbufAfter === null || rcvbufBefore === null ? null : rcvbufAfter - rcvbufBefore,
      load1: loadavg()[0] ?? 0,
      clientIdles: outcomes.reduce((a, o) => a + o.counters.idles, 0),
      ...tally,
      identical,
    };
  } finally {
    for (const c of clients) c.child.kill("SIGKILL");
    server.child.kill("SIGKILL");
    await server.exited;
  }
}

/** What `frisbee --json` printed, the fields the bench reads; a line without them is refused. */
export function clientOutcome(stdout: string): ClientJson {
  const line = stdout.trim().split("\n").pop() ?? "";
  let o: Partial<ClientJson>;
  try {
    o = JSON.parse(line) as Partial<ClientJson>;
  } catch {
    o = {};
  }
  const counters = o.counters;
  const ok = typeof o.startedAtEpochUs === "number" && typeof counters?.doneAtUs === "number" && typeof counters.idles === "number" && (o.socketDrops === null || typeof o.socketDrops === "number");
  if (!ok) throw new FrisbeeBenchError(`bench fidelity: frisbee --json printed no outcome with its start, its done time, its idle requests and its socket drops (${JSON.stringify(line.slice(-200))})`);
  return o as ClientJson;
}

interface ClientJson {
  startedAtEpochUs: number;
  socketDrops: number | null;
  counters: { doneAtUs: number; idles: number };
}

/** Reads frisbeed's closing line: blocks sent, requests, partial requests and the seconds it had work. */
export function serverTally(stdout: string): { blocksSent: number; requests: number; prequests: number; serverBusySec: number } {
  const m = /frisbeed: sent (\d+) blocks .* (\d+) requests, (\d+) partial requests.*, busy (\d+(?:\.\d+)?) s/.exec(stdout);
  if (m === null) throw new FrisbeeBenchError(`bench fidelity: frisbeed did not print its tally (stdout: ${JSON.stringify(stdout.slice(-200))})`);
  return { blocksSent: Number(m[1]), requests: Number(m[2]), prequests: Number(m[3]), serverBusySec: Number(m[4]) };
}
