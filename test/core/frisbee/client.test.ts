import { describe, expect, it } from "vitest";
import { createRng, groupAddress } from "../../../core/engine/index.js";
import { FrisbeeClient, type ChunkLayout, type FrisbeeClientOptions } from "../../../core/frisbee/client.js";
import { encodeFromHost } from "../../../core/frisbee/codec.js";
import { CHUNK_BLOCKS, CLIENT_DEFAULTS } from "../../../core/frisbee/constants.js";
import { emptyStats, msg, PROGRESS_LEVEL, type ClientStats, type FrisbeeMessage } from "../../../core/frisbee/messages.js";
import { Bench, type Sent } from "./bench-env.js";

/**
 * The Frisbee client as a machine on a bench (bench-env.ts): the server's answers and the disk's
 * and CPU's completions given by hand, each request, report and LEAVE2 pinned.
 */

const GROUP = groupAddress(7);
const PORT = 7700;
const SELF = 21;
const SERVER = 1;
const OTHER = 22;
const ID = 77;
const MIB = 2 ** 20;
const TICK = CLIENT_DEFAULTS.receiveTimeoutUs;

const layout: ChunkLayout = { compressedBytes: (c) => 1_000 + c, rawOffset: (c) => c * 3 * MIB, rawBytes: () => 3 * MIB };

function clientOn(bench: Bench, options: Partial<FrisbeeClientOptions> = {}): FrisbeeClient {
  return bench.start(
    (env) =>
      new FrisbeeClient(env, {
        group: GROUP,
        port: PORT,
        clientId: ID,
        join2: false,
        heartbeatIntervalUs: 0,
        randomize: false,
        layout,
        ...options,
      } as FrisbeeClientOptions),
  );
}

/** A client that has joined an image of `chunks` chunks (or `blockCount` blocks) at time 0. */
function joinedClient(bench: Bench, chunks: number, options: Partial<FrisbeeClientOptions> = {}, blockCount = chunks * CHUNK_BLOCKS): FrisbeeClient {
  const client = clientOn(bench, options);
  bench.receive(SERVER, msg.joinReply(blockCount));
  bench.take();
  return client;
}

function deliver(bench: Bench, chunk: number, blocks: Iterable<number>): void {
  for (const b of blocks) bench.receive(SERVER, msg.block(chunk, b, null));
}

const all = (n = CHUNK_BLOCKS): number[] => Array.from({ length: n }, (_, i) => i);
const except = (...missing: number[]): number[] => all().filter((b) => !missing.includes(b));

/** Requests sent, as "REQUEST chunk" / "PREQUEST chunk retries [blocks]". */
function requests(sent: Sent[]): string[] {
  return sent.flatMap((s) => {
    const m = s.message;
    if (m.type === "request") return [`REQUEST ${m.chunk} ${m.block}+${m.count}`];
    if (m.type === "prequest") {
      const blocks = all().filter((b) => ((m.bitmap[b >> 3] as number) & (1 << (b & 7))) !== 0);
      return [`PREQUEST ${m.chunk} ${m.retries} [${blocks.join(",")}]`];
    }
    return [];
  });
}

function leaveStats(sent: Sent[]): ClientStats {
  const leave = sent.find((s) => s.message.type === "leave2")?.message;
  if (leave?.type !== "leave2") throw new Error("no LEAVE2 sent");
  return leave.stats;
}

/** Completes the CPU and disk work of every chunk the client hands them, until it has none left. */
function runPipeline(bench: Bench, client: FrisbeeClient): void {
  for (let guard = 0; guard < 10_000; guard++) {
    const cpu = bench.cpuRuns.shift();
    if (cpu !== undefined) {
      client.cpuDone(cpu.op);
      continue;
    }
    const write = bench.writes.shift();
    if (write === undefined) return;
    client.diskDone(write.op, null);
  }
}

describe("Frisbee client machine: joining", () => {
  it("sends JOIN to the group and retries it at 125 ms, doubling to at most a second, until a reply comes", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench);
    expect(bench.joined).toEqual([GROUP]);
    bench.runUntil(4_000_000);
    const joins = bench.take();
    expect(joins.map((s) => [s.atUs, s.to, s.port, s.message])).toEqual(
      [0, 125_000, 375_000, 875_000, 1_875_000, 2_875_000, 3_875_000].map((at) => [at, GROUP, PORT, msg.join(ID)]),
    );
    expect(client.counters.joinAttempts).toBe(7);
    bench.receive(SERVER, msg.joinReply(2 * CHUNK_BLOCKS), 7702);
    expect(client.state).toBe("receiving");
    expect(client.chunkCount).toBe(2);
    expect(client.counters.joinedAtUs).toBe(4_000_000);
    bench.runUntil(10_000_000);
    expect(bench.take().filter((s) => s.message.type === "join")).toEqual([]);
    // A second reply (to a retried join) changes nothing.
    bench.receive(SERVER, msg.joinReply(9 * CHUNK_BLOCKS));
    expect(client.chunkCount).toBe(2);
  });

  it("with JOIN2 takes only the reply to its own id, and sizes the image from bytecount as the original server sends it", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench, { join2: true });
    expect(bench.take().map((s) => s.message)).toEqual([msg.join2(ID)]);
    bench.receive(SERVER, msg.join2Reply(ID + 1, 0, 5 * MIB));
    expect(client.state).toBe("joining");
    // 2.5 MiB: 2,560 blocks, 3 chunks, the last of 512 blocks.
    bench.receive(SERVER, msg.join2Reply(ID, 0, 2.5 * MIB));
    expect(client.state).toBe("receiving");
    expect(client.chunkCount).toBe(3);
    bench.runUntil(TICK);
    bench.take();
    deliver(bench, 2, all(512));
    expect(client.counters.chunksReceived).toBe(1);
  });

  it("fails, and leaves, when the server offers an empty image", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench);
    bench.take();
    bench.receive(SERVER, msg.joinReply(0));
    expect(client.state).toBe("failed");
    expect(client.failure).toBe("server offered an image of 0 blocks");
    expect(bench.take().map((s) => [s.to, s.message.type])).toEqual([[GROUP, "leave2"]]);
    expect(bench.eventsOf("frisbee.failed")).toEqual([{ client: ID, runtimeUs: 0, chunks: 0, error: "server offered an image of 0 blocks" }]);
    expect(bench.timers.size).toBe(0);
  });

  it("takes no block before it has joined", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench);
    deliver(bench, 0, [0, 1]);
    expect(client.counters.blocksReceived).toBe(0);
  });

  it("refuses limits below one", () => {
    const bench = new Bench(SELF);
    for (const bad of [{ chunkBuffers: 0 }, { inProgressChunksMax: 0 }, { requestAheadChunks: 0 }]) {
      expect(() => clientOn(bench, bad)).toThrow(/must be at least 1/);
    }
  });
});

describe("Frisbee client machine: requests", () => {
  it("asks for its first two chunks at the first receive timeout, as whole-chunk REQUESTs to the group", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 4);
    bench.runUntil(TICK - 1);
    expect(bench.take()).toEqual([]);
    bench.runUntil(TICK);
    const sent = bench.take();
    expect(sent.map((s) => [s.atUs, s.to, s.port])).toEqual([[TICK, GROUP, PORT], [TICK, GROUP, PORT]]);
    expect(requests(sent)).toEqual(["REQUEST 0 0+1024", "REQUEST 1 0+1024"]);
    expect(client.counters.requests).toBe(2);
  });

  it("asks for the last chunk first when told to, and for a short last chunk's blocks only", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 4, { lastChunkFirst: true, requestAheadChunks: 3 }, 3 * CHUNK_BLOCKS + 10);
    bench.runUntil(TICK);
    expect(requests(bench.take())).toEqual(["REQUEST 3 0+10", "REQUEST 1 0+1024", "REQUEST 2 0+1024"]);
  });

  it("asks in a random order of its own, each chunk once", () => {
    const orders = [1, 2, 3].map((seed) => {
      const bench = new Bench(SELF, {}, seed);
      joinedClient(bench, 40, { randomize: true, requestAheadChunks: 40, chunkBuffers: 40 });
      bench.runUntil(TICK);
      return requests(bench.take());
    });
    for (const order of orders) expect([...order].sort()).toEqual(Array.from({ length: 40 }, (_, c) => `REQUEST ${c} 0+1024`).sort());
    expect(new Set(orders.map((o) => o.join())).size).toBe(3);
    expect(orders[0]).not.toEqual(Array.from({ length: 40 }, (_, c) => `REQUEST ${c} 0+1024`));
  });

  it("on completing a chunk asks for the next ones not asked for within a second, without skipping past one that was", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 6);
    bench.runUntil(TICK);
    expect(requests(bench.take())).toEqual(["REQUEST 0 0+1024", "REQUEST 1 0+1024"]);
    bench.nowUs = 40_000;
    deliver(bench, 0, all());
    // Chunk 1 was asked for at 30 ms: the window's other place goes to chunk 2.
    expect(requests(bench.take())).toEqual(["REQUEST 2 0+1024"]);
    // Another client asks for chunk 3: heard, so not asked again; chunk 2 is still on its way.
    bench.receive(OTHER, msg.request(3, 0, CHUNK_BLOCKS));
    bench.nowUs = 60_000;
    deliver(bench, 1, all());
    expect(requests(bench.take())).toEqual([]);
    // A second later both may be asked again.
    bench.nowUs = 1_100_000;
    deliver(bench, 2, all());
    expect(requests(bench.take())).toEqual(["REQUEST 3 0+1024", "REQUEST 4 0+1024"]);
  });

  it("stops asking for new chunks while inProgressChunksMax are partly filled, and drops blocks when no buffer is free", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 8, { inProgressChunksMax: 2, chunkBuffers: 3, requestAheadChunks: 4 });
    bench.runUntil(TICK);
    // Three buffers: three chunks asked for, not four.
    expect(requests(bench.take())).toEqual(["REQUEST 0 0+1024", "REQUEST 1 0+1024", "REQUEST 2 0+1024"]);
    bench.nowUs = 2_000_000;
    deliver(bench, 5, [0]);
    deliver(bench, 6, [0]);
    bench.nowUs = 4_000_000;
    deliver(bench, 0, all());
    // Chunk 0 is done and its buffer free again, but 5 and 6 are being filled (2, the limit):
    // they are asked for again, and no new chunk is.
    expect(requests(bench.take()).map((r) => r.split(" [")[0])).toEqual(["PREQUEST 5 0", "PREQUEST 6 0"]);
    deliver(bench, 7, [0]);
    deliver(bench, 3, [0, 1]);
    expect(client.counters.noBufferBlocks).toBe(2);
    expect(client.counters.blocksReceived).toBe(1024 + 3);
  });

  it("after three receive timeouts with no block asks again for what is missing, each idle request waiting a timeout longer", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 3, { requestAheadChunks: 1 });
    bench.runUntil(TICK);
    expect(requests(bench.take())).toEqual(["REQUEST 0 0+1024"]);
    bench.nowUs = 35_000;
    deliver(bench, 0, except(5, 900));
    bench.runUntil(1_000_000);
    const sent = bench.take();
    // Idle 3 ticks after the last block (125 ms), then 3, 5, 6, 7, 8 ticks apart: from the second
    // idle request in a row on, each waits one tick more (and one for the one before).
    expect(sent.map((s) => s.atUs)).toEqual([125_000, 125_000, 215_000, 215_000, 365_000, 365_000, 545_000, 545_000, 755_000, 755_000, 995_000, 995_000]);
    expect(requests(sent).slice(0, 4)).toEqual(["PREQUEST 0 0 [5,900]", "REQUEST 1 0+1024", "PREQUEST 0 1 [5,900]", "REQUEST 1 0+1024"]);
    // The first requests, at the first receive timeout, were idle requests too.
    expect(client.counters.idles).toBe(7);
    expect(client.counters.prequests).toBe(6);
    // A block that arrives resets the wait: three ticks again.
    deliver(bench, 0, [5]);
    bench.runUntil(1_000_000 + 3 * TICK);
    expect(requests(bench.take())).toEqual(["PREQUEST 0 6 [900]", "REQUEST 1 0+1024"]);
    expect(bench.take()).toEqual([]);
  });

  it("is not idle while it hears others ask for blocks it lacks, and is while it hears only what it has", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 2, { requestAheadChunks: 1 });
    bench.runUntil(TICK);
    bench.take();
    bench.nowUs = 35_000;
    deliver(bench, 0, except(7));
    const lacking = new Uint8Array(128);
    lacking[0] = 0x80; // block 7
    const having = new Uint8Array(128);
    having[0] = 0x01; // block 0
    // A snooped REQUEST for a block it lacks restarts the idle count; a PREQUEST does not (as the original).
    for (let t = 60_000; t <= 300_000; t += 20_000) {
      bench.runUntil(t);
      bench.receive(OTHER, t % 40_000 === 0 ? msg.request(0, 7, 1) : msg.prequest(0, 0, having));
    }
    expect(requests(bench.take())).toEqual([]);
    bench.runUntil(310_000);
    for (let t = 320_000; t <= 400_000; t += 20_000) {
      bench.runUntil(t);
      bench.receive(OTHER, msg.request(0, 0, 1));
    }
    expect(requests(bench.take())).toEqual([]);
    // Packets keep coming every 20 ms, so no receive timeout passes: still not idle. Silence: idle 3 ticks later.
    bench.runUntil(400_000 + 3 * TICK);
    expect(requests(bench.take())).toEqual(["PREQUEST 0 0 [7]", "REQUEST 1 0+1024"]);
    expect(lacking[0]).toBe(0x80);
  });

  it("counts a snooped request as data on its way only if it asks for a block it lacks, and a PREQUEST never", () => {
    // Snooped every 50 ms: a receive timeout (30 ms) passes between them. Three in a row make it idle
    // unless a request in between restarts the count.
    const idleAt = (snoop: (t: number) => FrisbeeMessage | null): number | undefined => {
      const bench = new Bench(SELF);
      joinedClient(bench, 4, { requestAheadChunks: 1 });
      bench.runUntil(TICK);
      bench.take();
      bench.nowUs = 35_000;
      deliver(bench, 0, except(7, 600));
      for (let t = 85_000; t <= 1_000_000; t += 50_000) {
        bench.runUntil(t);
        if (requests(bench.take()).length > 0) return t;
        const m = snoop(t);
        if (m !== null) bench.receive(OTHER, m);
      }
      return undefined;
    };
    const bitmap = (...blocks: number[]): Uint8Array => {
      const bytes = new Uint8Array(128);
      for (const b of blocks) bytes[b >> 3] = (bytes[b >> 3] as number) | (1 << (b & 7));
      return bytes;
    };
    // Silence: idle three ticks after the last block.
    expect(idleAt(() => null)).toBe(135_000);
    // Asking for a block it lacks (7, or 600 in a range), a whole chunk, or a chunk it has not started: not idle.
    expect(idleAt((t) => msg.request(0, t % 100_000 === 0 ? 7 : 590, t % 100_000 === 0 ? 1 : 20))).toBeUndefined();
    expect(idleAt(() => msg.request(0, 0, CHUNK_BLOCKS))).toBeUndefined();
    expect(idleAt(() => msg.request(2, 5, 1))).toBeUndefined();
    // Asking for blocks it has, for a chunk beyond the image, or a PREQUEST even for what it lacks:
    // each is a packet (the receive timeout starts again) but not data on its way, so the third
    // tick comes at 165 ms.
    expect(idleAt(() => msg.request(0, 8, 100))).toBe(185_000);
    expect(idleAt(() => msg.request(4, 0, 1))).toBe(185_000);
    expect(idleAt(() => msg.prequest(0, 0, bitmap(7)))).toBe(185_000);
  });

  it("does not ask for a chunk another client asked for within a second by a PREQUEST for blocks it lacks, and does for one asking only for blocks it has", () => {
    const run = (snooped: Uint8Array, chunk = 1): string[] => {
      const bench = new Bench(SELF);
      joinedClient(bench, 4, { requestAheadChunks: 1, chunkBuffers: 4 });
      bench.runUntil(TICK);
      bench.take();
      bench.nowUs = 40_000;
      deliver(bench, 1, [3]);
      bench.receive(OTHER, msg.prequest(chunk, 0, snooped));
      bench.nowUs = 50_000;
      deliver(bench, 0, all());
      return requests(bench.take());
    };
    const lacks = new Uint8Array(128);
    lacks[0] = 0b0001_0000; // block 4
    const has = new Uint8Array(128);
    has[0] = 0b0000_1000; // block 3
    // Chunk 1 is being filled; completing chunk 0 asks for its missing blocks unless someone just did.
    expect(run(lacks)).toEqual(["REQUEST 2 0+1024"]);
    expect(run(has)[0]).toMatch(/^PREQUEST 1 0 /);
    // Tested a word at a time: a block it lacks far into the bitmap, beside one it has, counts.
    const far = new Uint8Array(128);
    far[0] = 0b0000_1000; // block 3
    far[125] = 0b0000_0001; // block 1000
    expect(run(far)).toEqual(["REQUEST 2 0+1024"]);
    // A PREQUEST for a chunk not started stamps it too; one beyond the image is ignored.
    expect(run(has, 2)).toEqual([expect.stringMatching(/^PREQUEST 1 0 /)]);
    expect(run(has, 9)[0]).toMatch(/^PREQUEST 1 0 /);
  });

  it("drops blocks outside the image or of a chunk it has, and counts duplicates", () => {
    const bench = new Bench(SELF, { cpu: true });
    const client = joinedClient(bench, 2, {}, CHUNK_BLOCKS + 10);
    deliver(bench, 1, [9, 9, 10]);
    deliver(bench, 2, [0]);
    bench.receive(SERVER, { ...msg.block(0, 0, null), chunk: -1 } as FrisbeeMessage);
    expect(client.counters.blocksReceived).toBe(1);
    expect(client.counters.dupBlocks).toBe(1);
    expect(client.counters.malformed).toBe(3);
    deliver(bench, 0, all());
    deliver(bench, 0, [3]);
    expect(client.counters.dupBlocks).toBe(2);
  });
});

describe("Frisbee client machine: the pipeline", () => {
  it("inflates each complete chunk on the CPU, writes it where the layout says, and is done when every chunk is written", () => {
    const bench = new Bench(SELF, { cpu: true, disk: true });
    const client = joinedClient(bench, 3);
    bench.nowUs = 100_000;
    for (const c of [2, 0, 1]) deliver(bench, c, all());
    bench.take();
    expect(bench.cpuRuns).toEqual([{ op: 2, work: "inflate", units: 1_002 }]);
    expect(client.counters.chunksReceived).toBe(3);
    client.cpuDone(2);
    expect(bench.writes).toEqual([{ atUs: 100_000, op: 2, offset: 6 * MIB, bytes: 3 * MIB }]);
    expect(bench.cpuRuns.map((r) => r.op)).toEqual([2, 0]);
    bench.cpuRuns.shift();
    bench.nowUs = 2_600_000;
    runPipeline(bench, client);
    expect(client.state).toBe("done");
    expect([...client.chunkWrites()]).toEqual([1, 1, 1]);
    expect(client.counters.chunksDecompressed).toBe(3);
    expect(client.counters.chunksWritten).toBe(3);
    expect(client.counters.bytesWritten).toBe(9 * MIB);
    expect(client.counters.doneAtUs).toBe(2_600_000);
    const sent = bench.take();
    expect(sent.map((s) => [s.to, s.port, s.message.type])).toEqual([[GROUP, PORT, "leave2"]]);
    expect(sent[0]?.message).toMatchObject({ clientId: ID, elapsedSec: 2 });
    expect(bench.eventsOf("frisbee.done")).toEqual([{ client: ID, runtimeUs: 2_600_000, chunks: 3 }]);
    expect(bench.timers.size).toBe(0);
  });

  it("stops inflating while 8 chunks wait for the disk, and goes on as the disk catches up", () => {
    const bench = new Bench(SELF, { cpu: true, disk: true });
    const client = joinedClient(bench, 12, { chunkBuffers: 12 });
    for (let c = 0; c < 12; c++) deliver(bench, c, all());
    for (let i = 0; i < 12; i++) {
      const run = bench.cpuRuns.shift();
      if (run !== undefined) client.cpuDone(run.op);
    }
    // Chunk 0 at the disk, 1..8 waiting for it: 9 inflated, chunk 9 not started.
    expect(client.counters.chunksDecompressed).toBe(9);
    expect(bench.writes.map((w) => w.op)).toEqual([0]);
    client.diskDone(0, null);
    expect(bench.cpuRuns.map((r) => r.op)).toEqual([9]);
    expect(bench.writes.map((w) => w.op)).toEqual([0, 1]);
  });

  it("fails at a write error, naming the chunk, and writes nothing more", () => {
    const bench = new Bench(SELF, { cpu: true, disk: true });
    const client = joinedClient(bench, 3);
    for (const c of [0, 1]) deliver(bench, c, all());
    client.cpuDone(0);
    client.diskDone(5, "EIO"); // not the chunk being written: ignored
    expect(client.state).toBe("receiving");
    client.diskDone(0, "EIO");
    expect(client.state).toBe("failed");
    expect(client.failure).toBe("write of chunk 0 failed: EIO");
    expect(bench.eventsOf("frisbee.write-error")).toEqual([{ client: ID, chunk: 0, error: "EIO" }]);
    client.cpuDone(1);
    expect(bench.writes.map((w) => w.op)).toEqual([0]);
    expect(bench.take().filter((s) => s.message.type === "leave2")).toHaveLength(1);
  });

  it("with a chunk-data port, hands over each chunk's bytes as sent and writes the regions the port answers", () => {
    const bench = new Bench(SELF, { disk: true });
    const inflated: [number, Uint8Array][] = [];
    const client = clientOn(bench, { layout: undefined, chunkData: { inflate: (chunk, bytes) => inflated.push([chunk, bytes.slice()]) } });
    bench.receive(SERVER, msg.joinReply(CHUNK_BLOCKS + 2));
    for (const [chunk, block] of [[1, 1], [1, 0]] as const) {
      const data = new Uint8Array(1024).fill(10 * chunk + block + 1);
      bench.receive(SERVER, encodeFromHost(msg.block(chunk, block, data), 0x0a000001));
    }
    expect(inflated.map(([c, b]) => [c, b.length, b[0], b[1023], b[1024], b[2047]])).toEqual([[1, 2048, 11, 11, 12, 12]]);
    client.inflated(0, { ok: true, writes: [] }); // not the chunk being inflated: ignored
    client.inflated(1, { ok: true, writes: [{ offsetBytes: 4096, data: new Uint8Array(100) }, { offsetBytes: 8192, data: 500 }] });
    expect(bench.writes.map((w) => [w.op, w.offset, w.bytes])).toEqual([[1, 4096, 100], [1, 8192, 500]]);
    client.diskDone(1, null);
    expect(client.counters.chunksWritten).toBe(0);
    client.diskDone(1, null);
    expect(client.counters.chunksWritten).toBe(1);
    expect(client.counters.bytesWritten).toBe(600);
  });

  it("fails at a chunk the port cannot inflate, and says why", () => {
    const bench = new Bench(SELF, { disk: true });
    const client = clientOn(bench, { layout: undefined, chunkData: { inflate: () => {} } });
    bench.receive(SERVER, msg.joinReply(CHUNK_BLOCKS));
    deliver(bench, 0, all());
    client.inflated(0, { ok: false, error: "zlib stream ends early" });
    expect(client.state).toBe("failed");
    expect(client.failure).toBe("chunk 0 is bad: zlib stream ends early");
    expect(bench.eventsOf("frisbee.bad-chunk")).toEqual([{ client: ID, chunk: 0, error: "zlib stream ends early" }]);
  });
});

describe("Frisbee client machine: progress reports", () => {
  const reports = (sent: Sent[]): Extract<FrisbeeMessage, { type: "progress" }>[] =>
    sent.flatMap((s) => (s.message.type === "progress" ? [s.message] : []));

  it("reports to the server, not the group, at a random time within its interval (at most 5 s) and then every interval", () => {
    const bench = new Bench(SELF);
    clientOn(bench, { heartbeatIntervalUs: 20_000_000 });
    bench.receive(SERVER, msg.joinReply(2 * CHUNK_BLOCKS), 7705);
    bench.runUntil(45_000_000);
    const sent = bench.take().filter((s) => s.message.type === "progress");
    expect(sent.map((s) => [s.to, s.port])).toEqual([[SERVER, 7705], [SERVER, 7705], [SERVER, 7705]]);
    const first = (sent[0] as Sent).atUs;
    expect(first).toBeLessThanOrEqual(5_000_000);
    expect(sent.map((s) => s.atUs - first)).toEqual([0, 20_000_000, 40_000_000]);
    expect(reports(sent).map((r) => [r.seq, r.whenSec, r.level, r.who])).toEqual([
      [1, Math.floor(first / 1e6), PROGRESS_LEVEL.summary, 0],
      [2, Math.floor(first / 1e6) + 20, PROGRESS_LEVEL.summary, 0],
      [3, Math.floor(first / 1e6) + 40, PROGRESS_LEVEL.summary, 0],
    ]);
  });

  it("answers a request with interval 0 at once with its summary, and one at level full with its statistics too", () => {
    const bench = new Bench(SELF, { cpu: true, disk: true });
    const client = joinedClient(bench, 3);
    bench.nowUs = 7_500_000;
    deliver(bench, 0, all());
    client.cpuDone(0);
    client.diskDone(0, null);
    deliver(bench, 1, all());
    bench.take();
    bench.receive(SERVER, msg.progressRequest(0, PROGRESS_LEVEL.summary));
    const [summary] = reports(bench.take());
    expect(summary).toEqual(msg.progress(ID, 0, 7, PROGRESS_LEVEL.summary, 1, { chunksReceived: 2, chunksDecompressed: 1, bytesWritten: 3 * MIB }, null));
    bench.receive(SERVER, msg.progressRequest(0, PROGRESS_LEVEL.full));
    const [full] = reports(bench.take());
    expect(full?.seq).toBe(2);
    expect(full?.stats).toMatchObject({ runsec: 7, runmsec: 500, rbyteswritten: 3 * MIB, requests: 2, chunkbufs: 64 });
    expect(full?.wireBytes).toBe(16 + 16 + 16 + 120);
  });

  it("reports on the interval a server asks for, and stops when asked for level none", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 2);
    bench.receive(SERVER, msg.progressRequest(10, PROGRESS_LEVEL.summary));
    bench.runUntil(30_000_000);
    const times = bench.take().filter((s) => s.message.type === "progress").map((s) => s.atUs);
    expect(times).toHaveLength(3);
    expect(times[0]).toBeLessThanOrEqual(5_000_000);
    expect([(times[1] as number) - (times[0] as number), (times[2] as number) - (times[1] as number)]).toEqual([10_000_000, 10_000_000]);
    bench.receive(SERVER, msg.progressRequest(10, PROGRESS_LEVEL.none));
    bench.runUntil(100_000_000);
    expect(bench.take().filter((s) => s.message.type === "progress")).toEqual([]);
  });

  it("ignores a progress request while still joining", () => {
    const bench = new Bench(SELF);
    clientOn(bench);
    bench.take();
    bench.receive(SERVER, msg.progressRequest(0, PROGRESS_LEVEL.summary));
    bench.receive(SERVER, msg.progressRequest(5, PROGRESS_LEVEL.summary));
    bench.runUntil(100_000);
    expect(bench.take().filter((s) => s.message.type !== "join")).toEqual([]);
  });

  it("sends a last report when done, if it reports at all", () => {
    const bench = new Bench(SELF);
    clientOn(bench, { heartbeatIntervalUs: 60_000_000 });
    bench.receive(SERVER, msg.joinReply(CHUNK_BLOCKS));
    bench.take();
    deliver(bench, 0, all());
    expect(bench.take().map((s) => s.message.type)).toEqual(["progress", "leave2"]);
    const quiet = new Bench(SELF);
    clientOn(quiet);
    quiet.receive(SERVER, msg.joinReply(CHUNK_BLOCKS));
    quiet.take();
    deliver(quiet, 0, all());
    expect(quiet.take().map((s) => s.message.type)).toEqual(["leave2"]);
  });
});

describe("Frisbee client machine: ending", () => {
  it("leaves at leaveAtUs, unfinished, with a LEAVE2 whose statistics say what it did", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench, { leaveAtUs: 2_345_000, chunkBuffers: 1, idleTimeouts: 2, requestAheadChunks: 3, inProgressChunksMax: 4 });
    bench.runUntil(200_000);
    bench.receive(SERVER, msg.joinReply(3 * CHUNK_BLOCKS));
    deliver(bench, 0, except(3, 4));
    deliver(bench, 0, [0]);
    deliver(bench, 1, [0, 1]);
    bench.runUntil(3_000_000);
    expect(client.state).toBe("left");
    expect(client.counters.doneAtUs).toBe(2_345_000);
    const sent = bench.take();
    const stats = leaveStats(sent);
    expect(sent.find((s) => s.message.type === "leave2")?.message).toMatchObject({ clientId: ID, elapsedSec: 2 });
    expect(stats).toMatchObject({
      runsec: 2,
      runmsec: 145,
      chunkbufs: 1,
      maxreadahead: 3,
      maxinprogress: 4,
      pkttimeout: TICK,
      idletimer: 2,
      redodelay: CLIENT_DEFAULTS.suppressUs,
      randomize: 0,
      nofreechunks: 2,
      dupblock: 1,
      joinattempts: 2,
      rbyteswritten: 0,
      ebyteswritten: 0,
    });
    expect(stats.prequests).toBeGreaterThan(0);
    expect(stats.lostblocks).toBe(2 * stats.prequests);
    expect(stats.rerequests).toBe(stats.prequests - 1);
    expect(stats.recvidles).toBe(client.counters.idles);
    expect(bench.eventsOf("frisbee.left")).toEqual([{ client: ID, runtimeUs: 2_145_000, chunks: 0 }]);
    expect(Object.keys(stats).sort()).toEqual(Object.keys(emptyStats()).sort());
  });

  it("gives up when its adapter says so, once, and ignores everything after", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 2);
    client.giveUp("no server heard for 30 s");
    client.giveUp("again");
    expect(client.state).toBe("failed");
    expect(client.failure).toBe("no server heard for 30 s");
    expect(bench.take().map((s) => s.message.type)).toEqual(["leave2"]);
    deliver(bench, 0, all());
    bench.receive(SERVER, msg.progressRequest(0, PROGRESS_LEVEL.summary));
    client.timer(2);
    expect(client.counters.blocksReceived).toBe(0);
    expect(bench.take()).toEqual([]);
  });
});

describe("Frisbee client machine: edges the mutation run found", () => {
  it("takes a layout or a chunk-data port, exactly one, and limits of exactly 1", () => {
    const bench = new Bench(SELF);
    const neither = { layout: undefined, chunkData: undefined } as unknown as Partial<FrisbeeClientOptions>;
    const both = { layout, chunkData: { inflate: () => {} } } as unknown as Partial<FrisbeeClientOptions>;
    for (const bad of [neither, both]) expect(() => clientOn(bench, bad)).toThrow("a client takes a layout (counting) or a chunk-data port (real data), one of the two");
    const client = clientOn(bench, { chunkBuffers: 1, inProgressChunksMax: 1, requestAheadChunks: 1 });
    expect(client.state).toBe("joining");
  });

  it("asks in a random order unless told not to", () => {
    const bench = new Bench(SELF);
    // Options without `randomize` at all (clientOn sets it false).
    bench.start((env) => new FrisbeeClient(env, { group: GROUP, port: PORT, clientId: ID, join2: false, heartbeatIntervalUs: 0, layout, requestAheadChunks: 40, chunkBuffers: 40 }));
    bench.receive(SERVER, msg.joinReply(40 * CHUNK_BLOCKS));
    bench.runUntil(TICK);
    const order = requests(bench.take());
    expect(order).toHaveLength(40);
    expect(order).not.toEqual(Array.from({ length: 40 }, (_, c) => `REQUEST ${c} 0+1024`));
  });

  it("can ask for three chunks in any of their six orders, and for each chunk once", () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 200; seed++) {
      const bench = new Bench(SELF, {}, seed);
      joinedClient(bench, 3, { randomize: true, requestAheadChunks: 3 });
      bench.runUntil(TICK);
      const order = requests(bench.take()).map((r) => r.split(" ")[1]);
      expect([...order].sort()).toEqual(["0", "1", "2"]);
      seen.add(order.join());
    }
    expect(seen.size).toBe(6);
  });

  it("with the last chunk first still asks for the chunk it took that place from", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 4, { lastChunkFirst: true, requestAheadChunks: 4 });
    bench.runUntil(TICK);
    expect(requests(bench.take())).toEqual(["REQUEST 3 0+1024", "REQUEST 1 0+1024", "REQUEST 2 0+1024", "REQUEST 0 0+1024"]);
  });

  it("counts a block of a negative index as malformed", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 1);
    bench.receive(SERVER, msg.block(0, -1, null));
    expect(client.counters.malformed).toBe(1);
    expect(client.counters.blocksReceived).toBe(0);
  });

  it("counts a block of a chunk already written as a duplicate, taking no buffer for it", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 2, { chunkBuffers: 1 });
    deliver(bench, 0, all());
    expect(client.counters.chunksWritten).toBe(1);
    deliver(bench, 0, [5]);
    expect(client.counters.dupBlocks).toBe(1);
    expect(client.counters.blocksReceived).toBe(CHUNK_BLOCKS);
    // The one buffer is still free for chunk 1.
    deliver(bench, 1, [0]);
    expect(client.counters.noBufferBlocks).toBe(0);
    expect(client.counters.rewrites).toBe(0);
  });

  it("sends nothing but its LEAVE2 once a chunk-data port fails a chunk as it is handed over", () => {
    const bench = new Bench(SELF);
    let client: FrisbeeClient | null = null;
    client = clientOn(bench, { layout: undefined, chunkData: { inflate: (chunk) => client?.inflated(chunk, { ok: false, error: "bad" }) } });
    bench.receive(SERVER, msg.joinReply(3 * CHUNK_BLOCKS));
    bench.take();
    deliver(bench, 1, [0]);
    deliver(bench, 0, all());
    expect(client.state).toBe("failed");
    expect(bench.take().map((s) => s.message.type)).toEqual(["leave2"]);
  });

  it("grows its idle wait to at most about a second of receive timeouts", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 2, { requestAheadChunks: 1 });
    bench.runUntil(60_000_000);
    const times = [...new Set(bench.take().map((s) => s.atUs))];
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // Each idle request in a row adds a tick, up to idleWaitUsMax / receiveTimeoutUs (33) of them.
    expect(gaps.slice(0, 3)).toEqual([3 * TICK, 5 * TICK, 6 * TICK]);
    expect(gaps.slice(-5)).toEqual(Array(5).fill((3 + 34) * TICK));
  });

  it("reports its first progress at a time drawn after the join, and counts each report", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench, { heartbeatIntervalUs: 20_000_000 });
    bench.runUntil(10_000_000);
    bench.receive(SERVER, msg.joinReply(2 * CHUNK_BLOCKS));
    bench.runUntil(60_000_000);
    const sent = bench.take().filter((s) => s.message.type === "progress");
    expect(sent[0]!.atUs).toBeGreaterThanOrEqual(10_000_000);
    expect(sent[0]!.atUs).toBeLessThanOrEqual(15_000_000);
    expect(client.counters.reportsSent).toBe(sent.length);
  });

  it("sends no last report when it leaves unfinished, and its LEAVE2 counts the time since it joined", () => {
    const bench = new Bench(SELF);
    clientOn(bench, { heartbeatIntervalUs: 60_000_000, leaveAtUs: 3_000_000 });
    bench.runUntil(1_500_000);
    bench.receive(SERVER, msg.joinReply(2 * CHUNK_BLOCKS));
    bench.take();
    bench.runUntil(3_000_000);
    const sent = bench.take();
    expect(sent.map((s) => s.message.type).filter((t) => t !== "request")).toEqual(["leave2"]);
    expect(sent.find((s) => s.message.type === "leave2")?.message).toMatchObject({ elapsedSec: 1 });
    expect(bench.eventsOf("frisbee.left")).toEqual([{ client: ID, runtimeUs: 1_500_000, chunks: 0 }]);
  });

  it("counts its runtime from its start when it fails before it has joined", () => {
    const bench = new Bench(SELF);
    clientOn(bench);
    bench.runUntil(700_000);
    bench.receive(SERVER, msg.joinReply(0));
    expect(bench.eventsOf("frisbee.failed")).toEqual([{ client: ID, runtimeUs: 700_000, chunks: 0, error: "server offered an image of 0 blocks" }]);
  });
});

describe("Frisbee client machine: more edges the mutation run found", () => {
  it("ignores blocks before its join without calling them malformed, survives a datagram that is no message, and counts nothing after its end", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench);
    deliver(bench, 0, [0]);
    expect(client.counters.malformed).toBe(0);
    bench.receive(SERVER, msg.joinReply(CHUNK_BLOCKS));
    expect(() => bench.receive(SERVER, new Uint8Array([1, 2, 3]))).not.toThrow();
    const counted = client.counters.malformed + client.counters.unknown;
    expect(counted).toBe(1);
    client.giveUp("gone");
    bench.receive(SERVER, new Uint8Array([1, 2, 3]));
    expect(client.counters.malformed + client.counters.unknown).toBe(counted);
  });

  it("leaves at leaveAtUs even while still joining, and gives up while joining", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench, { leaveAtUs: 300_000 });
    bench.runUntil(1_000_000);
    expect(client.state).toBe("left");
    const other = new Bench(SELF);
    const joining = clientOn(other);
    joining.giveUp("no server");
    expect(joining.state).toBe("failed");
  });

  it("ignores a CPU completion for a chunk it is not inflating", () => {
    const bench = new Bench(SELF, { cpu: true, disk: true });
    const client = joinedClient(bench, 3);
    deliver(bench, 0, all());
    client.cpuDone(2);
    expect(client.counters.chunksDecompressed).toBe(0);
    client.cpuDone(0);
    expect(client.counters.chunksDecompressed).toBe(1);
  });

  it("after its end neither writes an inflated chunk nor finishes again when a write completes", () => {
    const bench = new Bench(SELF, { disk: true });
    const client = clientOn(bench, { layout: undefined, chunkData: { inflate: () => {} } });
    bench.receive(SERVER, msg.joinReply(CHUNK_BLOCKS));
    deliver(bench, 0, all());
    client.giveUp("gone");
    client.inflated(0, { ok: true, writes: [{ offsetBytes: 0, data: 10 }] });
    expect(bench.writes).toEqual([]);
    const counting = new Bench(SELF, { disk: true });
    const c2 = joinedClient(counting, 1);
    deliver(counting, 0, all());
    expect(counting.writes.map((w) => w.op)).toEqual([0]);
    c2.giveUp("gone");
    c2.diskDone(0, null);
    expect(c2.state).toBe("failed");
    expect(counting.take().filter((s) => s.message.type === "leave2")).toHaveLength(1);
  });

  it("fails at the first failed write of a chunk written in several regions", () => {
    const bench = new Bench(SELF, { disk: true });
    const client = clientOn(bench, { layout: undefined, chunkData: { inflate: () => {} } });
    bench.receive(SERVER, msg.joinReply(CHUNK_BLOCKS));
    deliver(bench, 0, all());
    client.inflated(0, { ok: true, writes: [{ offsetBytes: 0, data: 10 }, { offsetBytes: 4096, data: 10 }] });
    client.diskDone(0, "EIO");
    expect(client.state).toBe("failed");
  });

  it("writes a chunk at once when it has no regions or there is no disk", () => {
    for (const ports of [{ disk: true }, {}]) {
      const bench = new Bench(SELF, ports);
      const client = clientOn(bench, { layout: undefined, chunkData: { inflate: () => {} } });
      bench.receive(SERVER, msg.joinReply(CHUNK_BLOCKS));
      deliver(bench, 0, all());
      client.inflated(0, { ok: true, writes: ports.disk === true ? [] : [{ offsetBytes: 0, data: 10 }] });
      expect(client.state).toBe("done");
    }
  });

  it("asks again for a chunk exactly a second after it was asked for, and does not count one being filled as a new candidate", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 6);
    bench.runUntil(TICK);
    expect(requests(bench.take())).toEqual(["REQUEST 0 0+1024", "REQUEST 1 0+1024"]);
    bench.nowUs = 40_000;
    deliver(bench, 1, [0]);
    bench.nowUs = TICK + 1_000_000;
    deliver(bench, 0, all());
    expect(requests(bench.take()).map((r) => r.split(" [")[0])).toEqual(["PREQUEST 1 0", "REQUEST 2 0+1024", "REQUEST 3 0+1024"]);
  });

  it("keeps each chunk buffer's blocks apart, and clears a buffer for its next chunk", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 3, { chunkBuffers: 2 });
    deliver(bench, 0, [0]);
    deliver(bench, 1, [5, 5]);
    expect(client.counters.dupBlocks).toBe(1);
    deliver(bench, 1, all());
    expect(client.counters.chunksReceived).toBe(1);
    deliver(bench, 2, all());
    expect(client.counters.chunksReceived).toBe(2);
    expect(client.counters.dupBlocks).toBe(2);
  });
});

describe("Frisbee client machine: snooping edges the mutation run left", () => {
  const bitmap = (...blocks: number[]): Uint8Array => {
    const bytes = new Uint8Array(128);
    for (const b of blocks) bytes[b >> 3] = (bytes[b >> 3] as number) | (1 << (b & 7));
    return bytes;
  };

  /**
   * When a client filling chunk 0 (all but blocks 7 and 600) first goes idle while it hears `snoop`
   * every 50 ms; its last chunk (3) is one block, received and waiting for the CPU. Silence: 135 ms;
   * a snoop that is a packet but not data on its way: 185 ms; one that is data on its way: never.
   */
  const idleAt = (snoop: FrisbeeMessage): number | undefined => {
    const bench = new Bench(SELF, { cpu: true });
    joinedClient(bench, 4, { requestAheadChunks: 1 }, 3 * CHUNK_BLOCKS + 1);
    bench.runUntil(TICK);
    bench.nowUs = 35_000;
    deliver(bench, 3, [0]);
    deliver(bench, 0, except(7, 600));
    expect(bench.cpuRuns.map((r) => r.op)).toEqual([3]);
    bench.take();
    for (let t = 85_000; t <= 1_000_000; t += 50_000) {
      bench.runUntil(t);
      if (requests(bench.take()).length > 0) return t;
      bench.receive(OTHER, snoop);
    }
    return undefined;
  };

  it("takes a snooped REQUEST for a chunk before the image's first, or for a chunk it has received, as a packet and not as data on its way", () => {
    expect(idleAt(msg.request(0, 7, 1))).toBeUndefined();
    expect(idleAt(msg.request(-1, 0, 1))).toBe(185_000);
    expect(idleAt(msg.request(-1, 0, CHUNK_BLOCKS))).toBe(185_000);
    // Chunk 3 is received (its one block), not yet inflated: a whole-chunk request for it brings nothing.
    expect(idleAt(msg.request(3, 0, 1))).toBe(185_000);
  });

  /**
   * Chunk 1 being filled (`has`, block 3 unless told; in chunk buffer `buffer`: chunk 2's first block takes buffer 0
   * before it when `buffer` is 1), `snoop` heard at 40 ms, then chunk 0 completing at 50 ms: the
   * requests that completion sends. A chunk stamped by the snoop is not asked for again.
   */
  const afterSnoop = (snoop: FrisbeeMessage, buffer: 0 | 1, has: number[] = [3]): string[] => {
    const bench = new Bench(SELF);
    joinedClient(bench, 4, { requestAheadChunks: 1, chunkBuffers: 4 });
    bench.runUntil(TICK);
    bench.take();
    bench.nowUs = 40_000;
    if (buffer === 1) deliver(bench, 2, [0]);
    deliver(bench, 1, has);
    bench.receive(OTHER, snoop);
    bench.nowUs = 50_000;
    deliver(bench, 0, all());
    return requests(bench.take()).map((r) => r.split(" [")[0] as string);
  };

  it("stamps a chunk it is filling, in either chunk buffer, only on a request for a block it lacks", () => {
    const asksForOne = (snoop: FrisbeeMessage, buffer: 0 | 1): boolean => afterSnoop(snoop, buffer).includes("PREQUEST 1 0");
    for (const buffer of [0, 1] as const) {
      // Chunk 2's one block (buffer 1) makes it asked for too; chunk 1 is only if nobody just did.
      expect(afterSnoop(msg.request(1, 3, 1), buffer)).toEqual(buffer === 1 ? ["PREQUEST 2 0", "PREQUEST 1 0", "REQUEST 3 0+1024"] : ["PREQUEST 1 0", "REQUEST 2 0+1024"]);
      // Block 3 it has: the request brings nothing, so it asks for chunk 1's missing blocks itself.
      expect(asksForOne(msg.prequest(1, 0, bitmap(3)), buffer)).toBe(true);
      // Block 4 it lacks (also the block just past a request for block 3 alone): chunk 1 is on its way.
      expect(asksForOne(msg.request(1, 3, 2), buffer)).toBe(false);
      expect(asksForOne(msg.request(1, 4, 1), buffer)).toBe(false);
      expect(asksForOne(msg.prequest(1, 0, bitmap(3, 4)), buffer)).toBe(false);
      // A request from block 0 that is not for the whole chunk is judged by its blocks too.
      expect(asksForOne(msg.request(1, 0, 1), buffer)).toBe(false);
      expect(asksForOne(msg.request(1, 0, 3), buffer)).toBe(false);
    }
    expect(afterSnoop(msg.request(1, 0, 1), 0, [0, 3])).toEqual(["PREQUEST 1 0", "REQUEST 2 0+1024"]);
  });

  it("tests a snooped PREQUEST's bitmap word by word against the same word of its own", () => {
    const asksForOne = (snoop: FrisbeeMessage, has?: number[]): boolean => afterSnoop(snoop, 0, has).includes("PREQUEST 1 0");
    // Block 995 is bit 3 of the last word, block 3 bit 3 of the first: it has 3 and lacks 995.
    expect(asksForOne(msg.prequest(1, 0, bitmap(995)))).toBe(false);
    // A block asked for in every one of the 32 words, all but the last one's it has.
    const everyWord = Array.from({ length: 32 }, (_, w) => 32 * w);
    expect(asksForOne(msg.prequest(1, 0, bitmap(...everyWord)), everyWord)).toBe(true);
    expect(asksForOne(msg.prequest(1, 0, bitmap(...everyWord, 1000)), everyWord)).toBe(false);
  });

  /**
   * A short last chunk (3, of 10 blocks) being filled with all but block 9, `snoops` heard at
   * 40 ms, then chunk 0 completing: whether the client still asks for block 9 itself.
   */
  const asksForNine = (...snoops: FrisbeeMessage[]): boolean => {
    const bench = new Bench(SELF);
    joinedClient(bench, 4, { requestAheadChunks: 1, chunkBuffers: 4 }, 3 * CHUNK_BLOCKS + 10);
    bench.runUntil(TICK);
    bench.take();
    bench.nowUs = 40_000;
    deliver(bench, 3, all(9));
    for (const m of snoops) bench.receive(OTHER, m);
    bench.nowUs = 50_000;
    deliver(bench, 0, all());
    const sent = requests(bench.take());
    expect(sent.filter((r) => !r.startsWith("PREQUEST 3 "))).toEqual(["REQUEST 1 0+1024"]);
    return sent.includes("PREQUEST 3 0 [9]");
  };

  it("reads a snooped PREQUEST for a short last chunk up to its last block, and no bit past it", () => {
    expect(asksForNine()).toBe(true);
    // Block 9 is in the bitmap's second byte, with blocks past the chunk's end.
    expect(asksForNine(msg.prequest(3, 0, bitmap(9)))).toBe(false);
    expect(asksForNine(msg.prequest(3, 0, bitmap(8, 10, 11, 12, 13, 14, 15)))).toBe(true);
    expect(asksForNine(msg.prequest(3, 0, bitmap(10)))).toBe(true);
    expect(asksForNine(msg.prequest(3, 0, bitmap(16, 100, 1023)))).toBe(true);
  });

  it("reads one bitmap heard for two chunks of different sizes by each chunk's own size", () => {
    // The same bitmap object for the short chunk 3 (block 12 is past its end) and then for chunk 1,
    // being filled with block 3 only: for chunk 1 it asks for block 12, which chunk 1 lacks.
    const shared = bitmap(12);
    const bench = new Bench(SELF);
    joinedClient(bench, 4, { requestAheadChunks: 1, chunkBuffers: 4 }, 3 * CHUNK_BLOCKS + 10);
    bench.runUntil(TICK);
    bench.take();
    bench.nowUs = 40_000;
    deliver(bench, 3, all(9));
    deliver(bench, 1, [3]);
    bench.receive(OTHER, msg.prequest(3, 0, shared));
    bench.receive(OTHER, msg.prequest(1, 0, shared));
    bench.nowUs = 50_000;
    deliver(bench, 0, all());
    expect(requests(bench.take()).map((r) => r.split(" [")[0])).toEqual(["PREQUEST 3 0", "REQUEST 2 0+1024"]);
  });

  it("clears only the buffer of a chunk it finished: a chunk still filling in another keeps its blocks", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 3, { chunkBuffers: 2 });
    deliver(bench, 0, [0]);
    deliver(bench, 1, all());
    expect(client.counters.chunksDecompressed).toBe(1);
    deliver(bench, 0, [0]);
    expect(client.counters.dupBlocks).toBe(1);
    expect(client.counters.blocksReceived).toBe(CHUNK_BLOCKS + 1);
  });

  it("asks again for a chunk not yet started exactly a second after it was asked for", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 6);
    bench.runUntil(TICK);
    expect(requests(bench.take())).toEqual(["REQUEST 0 0+1024", "REQUEST 1 0+1024"]);
    bench.nowUs = TICK + 1_000_000;
    deliver(bench, 0, all());
    expect(requests(bench.take())).toEqual(["REQUEST 1 0+1024", "REQUEST 2 0+1024"]);
  });
  it("does not take a chunk being filled for a new one when it comes after one not started in its order", () => {
    const bench = new Bench(SELF);
    joinedClient(bench, 6);
    bench.runUntil(TICK);
    expect(requests(bench.take())).toEqual(["REQUEST 0 0+1024", "REQUEST 1 0+1024"]);
    bench.nowUs = 40_000;
    deliver(bench, 2, [0]);
    bench.nowUs = TICK + 1_000_000;
    deliver(bench, 0, all());
    expect(requests(bench.take()).map((r) => r.split(" [")[0])).toEqual(["PREQUEST 2 0", "REQUEST 1 0+1024", "REQUEST 3 0+1024"]);
  });

  it("says it has not ended (doneAtUs -1) until it ends", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 1);
    bench.runUntil(TICK);
    expect(client.counters.doneAtUs).toBe(-1);
    deliver(bench, 0, all());
    expect(client.state).toBe("done");
    expect(client.counters.doneAtUs).toBe(TICK);
  });
});

describe("Frisbee client machine: the first report's draw", () => {
  // With no random order, the first draw from the seeded stream is the first report's delay,
  // drawn from 0 to the interval (at most 5 s), both included.
  const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

  it("after its join, on its own interval", () => {
    for (const seed of SEEDS) {
      const bench = new Bench(SELF, {}, seed);
      clientOn(bench, { heartbeatIntervalUs: 3_000_000 });
      bench.nowUs = 1_000;
      bench.receive(SERVER, msg.joinReply(2 * CHUNK_BLOCKS));
      bench.runUntil(5_000_000);
      const first = bench.take().find((s) => s.message.type === "progress");
      expect(first?.atUs).toBe(1_000 + createRng(seed).int(3_000_001));
    }
  });

  it("after a server asks for reports on an interval", () => {
    for (const seed of SEEDS) {
      const bench = new Bench(SELF, {}, seed);
      joinedClient(bench, 2);
      bench.nowUs = 1_000;
      bench.receive(SERVER, msg.progressRequest(3, PROGRESS_LEVEL.summary));
      bench.runUntil(5_000_000);
      const first = bench.take().find((s) => s.message.type === "progress");
      expect(first?.atUs).toBe(1_000 + createRng(seed).int(3_000_001));
    }
  });
});

describe("Frisbee client machine: a burst taken at once (receiveAll)", () => {
  /** A burst from the server, `kept` the mask of datagrams the network delivered. */
  const burst = (client: FrisbeeClient, payloads: (FrisbeeMessage | Uint8Array)[], kept = 2 ** payloads.length - 1): void =>
    client.receiveAll(SERVER, PORT, payloads, kept);

  it("takes only the kept datagrams of a burst, in order", () => {
    const bench = new Bench(SELF);
    const client = joinedClient(bench, 2);
    burst(client, [0, 1, 2, 3].map((b) => msg.block(0, b, null)), 0b1001);
    expect(client.counters.blocksReceived).toBe(2);
    // Blocks 1 and 2 were dropped, so they are new when they come; 0 and 3 are duplicates.
    deliver(bench, 0, [0, 1, 2, 3]);
    expect(client.counters.blocksReceived).toBe(4);
    expect(client.counters.dupBlocks).toBe(2);
  });

  it("passes every datagram that is not a block object while receiving to the general receive", () => {
    const bench = new Bench(SELF);
    const client = clientOn(bench);
    // Before its join a block is ignored, not malformed; a join reply in the burst joins it, and the blocks after it count.
    burst(client, [msg.block(0, 0, null), msg.joinReply(2 * CHUNK_BLOCKS), msg.block(0, 1, null)]);
    expect(client.state).toBe("receiving");
    expect(client.counters.malformed).toBe(0);
    expect(client.counters.blocksReceived).toBe(1);
    // The original's bytes, and another client's request, go through the general receive too.
    burst(client, [encodeFromHost(msg.block(0, 2, null), 0x0a000001), msg.request(1, 0, CHUNK_BLOCKS)]);
    expect(client.counters.blocksReceived).toBe(2);
    expect(client.counters.malformed).toBe(0);
  });

  it("counts a burst as packets and as blocks for its idle wait, as datagrams one by one", () => {
    const timeline = (asBurst: boolean): number[] => {
      const bench = new Bench(SELF);
      const client = joinedClient(bench, 3, { requestAheadChunks: 1 });
      bench.runUntil(TICK);
      bench.take();
      bench.nowUs = 35_000;
      const blocks = except(5, 900).map((b) => msg.block(0, b, null));
      // A burst is at most 32 datagrams (its mask is a 32-bit word).
      if (asBurst) for (let i = 0; i < blocks.length; i += 32) burst(client, blocks.slice(i, i + 32), -1);
      else for (const m of blocks) bench.receive(SERVER, m);
      bench.runUntil(600_000);
      bench.nowUs = 600_000;
      if (asBurst) burst(client, [msg.block(0, 5, null)]);
      else bench.receive(SERVER, msg.block(0, 5, null));
      bench.runUntil(1_000_000);
      return bench.take().map((s) => s.atUs);
    };
    const oneByOne = timeline(false);
    expect(oneByOne.slice(0, 2)).toEqual([125_000, 125_000]);
    expect(timeline(true)).toEqual(oneByOne);
  });
});
