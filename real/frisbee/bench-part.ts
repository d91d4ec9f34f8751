import { createSocket } from "node:dgram";
import { readFileSync, statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { createRng } from "../../core/engine/index.js";
import { FrisbeeClient } from "../../core/frisbee/client.js";
import { encode, encodeFromHost, ipv4ToNumber } from "../../core/frisbee/codec.js";
import { msg } from "../../core/frisbee/messages.js";
import { pacingForBandwidth } from "../../core/frisbee/rate.js";
import { FileDisk, GROUP, MulticastNet, bindProcess, wallClock } from "../runtime/index.js";
import { daemonEvents } from "./events.js";
import { Inflater } from "./inflate.js";
import { inflateForDisk } from "./inflate-chunk.js";
import { startFrisbeed } from "./server.js";
import { openClientTarget } from "./target.js";
import { threadCpu } from "./thread-cpu.js";

const CHUNK_BYTES = 1 << 20;
const BLOCK_BYTES = 1024;
/** How long a part may run before it is given up (a part that hangs must not hang the bench). */
const PART_TIMEOUT_MS = 240_000;

/** One part of the real path, run alone in a process of its own (bench frisbee's per-part figures). */
export type PartName = "send" | "receive" | "inflate" | "write";

export interface PartArgs {
  part: PartName;
  image: string;
  group: string;
  port: number;
  iface: string;
  bandwidthBps: number;
  /** The file the write part writes (in the bench's scratch folder). */
  target: string;
}

export interface PartFigures {
  part: PartName;
  /** Datagrams sent (send) or taken from the socket (receive), chunks inflated (inflate), write calls (write). */
  items: number;
  /** Image bytes sent or received, disk bytes inflated or written. */
  bytes: number;
  wallSec: number;
  /** CPU of the whole process (every thread) over the measured stretch, in microseconds. */
  cpuUs: number;
  /** The same split: the main thread (the event loop), and every other thread (worker, libuv pool); null without /proc. */
  mainCpuUs: number | null;
  othersCpuUs: number | null;
  /** The write part: of wallSec, the seconds of the final sizing, fsync and rename. */
  syncSec?: number;
}

/** Starts a measured stretch: wall clock, process CPU and thread CPU now. */
function mark(): () => Omit<PartFigures, "part" | "items" | "bytes"> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const th0 = threadCpu();
  return () => {
    const c = process.cpuUsage(c0);
    const th = threadCpu();
    const split = th !== null && th0 !== null;
    return {
      wallSec: (performance.now() - t0) / 1000,
      cpuUs: c.user + c.system,
      mainCpuUs: split ? th.mainUs - th0.mainUs : null,
      othersCpuUs: split ? th.othersUs - th0.othersUs : null,
    };
  };
}

function until(done: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + PART_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const look = (): void => {
      if (done()) return resolve();
      if (performance.now() > deadline) return reject(new Error(`${what}: not done in ${PART_TIMEOUT_MS / 1000} s`));
      setTimeout(look, 2);
    };
    look();
  });
}

/**
 * Our frisbeed with nobody listening: a socket that never joins the group asks once for every chunk,
 * and the server sends the whole image at the rate its pacing and its CPU allow. Its own group
 * socket still hears its blocks, as in a real run.
 */
async function sendAlone(a: PartArgs): Promise<PartFigures> {
  const d = await startFrisbeed({
    imagePath: a.image, group: a.group, port: a.port, iface: a.iface, pacing: pacingForBandwidth(a.bandwidthBps),
    dynamic: false, heartbeatSec: 0, idleExitSec: 0, store: null, log: null,
  });
  const sizeBytes = statSync(a.image).size;
  const blocks = Math.ceil(sizeBytes / BLOCK_BYTES);
  const asker = createSocket({ type: "udp4" });
  await new Promise<void>((resolve) => asker.bind(0, a.iface, resolve));
  try {
    const stop = mark();
    for (let chunk = 0; chunk * CHUNK_BYTES < sizeBytes; chunk++) {
      const count = Math.min(CHUNK_BYTES, sizeBytes - chunk * CHUNK_BYTES) / BLOCK_BYTES;
      asker.send(encode(msg.request(chunk, 0, Math.ceil(count)), ipv4ToNumber(a.iface)), a.port, a.group);
    }
    await until(() => d.server.stats.blocksSent >= blocks, "send part");
    return { part: "send", items: d.server.stats.blocksSent, bytes: d.server.stats.blocksSent * BLOCK_BYTES, ...stop() };
  } finally {
    asker.close();
    d.stop();
  }
}

/**
 * Our frisbee's receiving thread alone: the real client (sockets, protocol, blocks copied into its
 * chunk buffers) against a frisbeed started beside it, with inflating and writing answered at once
 * (nothing decoded, nothing written).
 */
async function receiveAlone(a: PartArgs): Promise<PartFigures> {
  const net = await MulticastNet.open({ group: a.group, port: a.port, iface: a.iface, ownPort: false, fastGroupSend: false, encode: encodeFromHost });
  let settle: () => void = () => {};
  const ended = new Promise<void>((resolve) => (settle = resolve));
  const events = daemonEvents({ host: "bench-receive", store: null, log: null, also: (kind) => (kind === "frisbee.done" || kind === "frisbee.failed" ? settle() : undefined) });
  let client: FrisbeeClient | null = null;
  const stop = mark();
  const bound = bindProcess({ clock: wallClock(), rng: createRng(1).fork("frisbee"), net, events }, (env) =>
    new FrisbeeClient(env, {
      group: GROUP, port: a.port, clientId: process.pid, join2: false, heartbeatIntervalUs: 0, lastChunkFirst: true,
      chunkData: { inflate: (chunk) => setImmediate(() => client?.inflated(chunk, { ok: true, writes: [] })) },
    }),
  );
  client = bound.process;
  const timeout = setTimeout(settle, PART_TIMEOUT_MS);
  await ended;
  clearTimeout(timeout);
  const figures = stop();
  bound.timers.close();
  net.close();
  if (client.state !== "done") throw new Error(`receive part: the client ${client.state}: ${client.failure ?? "timed out"}`);
  // Every datagram its event loop took, blocks sent again (for a loss, or a request repeated) included.
  return { part: "receive", items: net.stats.received, bytes: client.counters.blocksReceived * BLOCK_BYTES, ...figures };
}

/** Every chunk of the image through the client's inflate worker, read from memory. */
async function inflateAlone(a: PartArgs): Promise<PartFigures> {
  const image = readFileSync(a.image);
  const chunks = Math.ceil(image.byteLength / CHUNK_BYTES);
  let done = 0;
  let bytes = 0;
  let failure: string | null = null;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const inflater = new Inflater(false, (inflated) => {
    if (!inflated.result.ok) failure ??= inflated.result.error;
    else for (const w of inflated.result.writes) bytes += typeof w.data === "number" ? w.data : w.data.byteLength;
    if (++done === chunks) finish();
  });
  const stop = mark();
  // One chunk at a time, as the client hands them over.
  for (let chunk = 0; chunk < chunks; chunk++) inflater.inflate(chunk, image.subarray(chunk * CHUNK_BYTES, (chunk + 1) * CHUNK_BYTES));
  await finished;
  const figures = stop();
  await inflater.close();
  if (failure !== null) throw new Error(`inflate part: ${failure}`);
  return { part: "inflate", items: chunks, bytes, ...figures };
}

/**
 * The client's writes of the whole image to a new file: each chunk's writes issued together through
 * the client's FileDisk, the next chunk once they are done, then the target sized, synced and put
 * in place. Chunks are inflated between the timed stretches, so only writing is counted: the wall
 * time is the sum of the stretches, the CPU that of the threads that write (libuv's pool).
 */
async function writeAlone(a: PartArgs): Promise<PartFigures> {
  const image = readFileSync(a.image);
  const target = await openClientTarget(a.target, false);
  let pending = 0;
  let wake: (error: string | null) => void = () => {};
  const disk = new FileDisk(target.fd, Infinity, (_op, error) => {
    if (error !== null || --pending === 0) wake(error);
  });
  let wallSec = 0;
  let othersCpuUs = 0;
  let items = 0;
  let bytes = 0;
  let endBytes = 0;
  const timed = async (work: () => Promise<void>): Promise<void> => {
    const stop = mark();
    await work();
    const f = stop();
    wallSec += f.wallSec;
    othersCpuUs += f.othersCpuUs ?? f.cpuUs;
  };
  for (let chunk = 0; chunk * CHUNK_BYTES < image.byteLength; chunk++) {
    const reply = inflateForDisk({ chunk, bytes: image.subarray(chunk * CHUNK_BYTES, (chunk + 1) * CHUNK_BYTES), zeroFill: false });
    if (!reply.ok) throw new Error(`write part: ${reply.error}`);
    endBytes = Math.max(endBytes, reply.endBytes);
    if (reply.writes.length === 0) continue;
    await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          wake = (error) => (error === null ? resolve() : reject(new Error(`write part: ${error}`)));
          pending = reply.writes.length;
          for (const w of reply.writes) disk.write(chunk, w.offsetBytes, new Uint8Array(reply.buffer, w.at, w.length));
        }),
    );
    items += reply.writes.length;
    for (const w of reply.writes) bytes += w.length;
  }
  const writeSec = wallSec;
  await timed(() => target.finish(endBytes));
  return { part: "write", items, bytes, wallSec, cpuUs: othersCpuUs, mainCpuUs: null, othersCpuUs, syncSec: wallSec - writeSec };
}

const PARTS: Record<PartName, (a: PartArgs) => Promise<PartFigures>> = { send: sendAlone, receive: receiveAlone, inflate: inflateAlone, write: writeAlone };

/** Runs one part and gives its figures. */
export async function runPart(args: PartArgs): Promise<PartFigures> {
  const run = PARTS[args.part];
  if (run === undefined) throw new Error(`no such part: ${String(args.part)}`);
  // The inflate worker is unreferenced (a client's sockets keep it alive): hold the process open.
  const alive = setInterval(() => {}, 1000);
  try {
    return await run(args);
  } finally {
    clearInterval(alive);
  }
}
