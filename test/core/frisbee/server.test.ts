import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { groupAddress } from "../../../core/engine/index.js";
import { BlockBitmap } from "../../../core/frisbee/bitmap.js";
import { decode, encode } from "../../../core/frisbee/codec.js";
import { CHUNK_BLOCKS, SERVER_DEFAULTS } from "../../../core/frisbee/constants.js";
import { emptyStats, msg, PROGRESS_LEVEL, type FrisbeeMessage } from "../../../core/frisbee/messages.js";
import { FrisbeeServer, type FrisbeeServerOptions } from "../../../core/frisbee/server.js";
import { emulabFixture } from "../../fixtures/emulab.js";
import { Bench, type Sent } from "./bench-env.js";

/**
 * frisbeed as a machine on a bench (bench-env.ts): each input given by hand, each answer pinned,
 * where possible against what the original frisbeed sent (test/fixtures/emulab/frisbee.json).
 */

const GROUP = groupAddress(7);
const PORT = 7700;
const SERVER = 1;
const CLIENT_A = 11;
const CLIENT_B = 12;
const LOCALHOST = 0x7f000001;

function serverOn(bench: Bench, options: Partial<FrisbeeServerOptions> = {}): FrisbeeServer {
  return bench.start(
    (env) =>
      new FrisbeeServer(env, {
        group: GROUP,
        port: PORT,
        image: { blockCount: 4 * CHUNK_BLOCKS, byteCount: 4 * CHUNK_BLOCKS * 1024, uncompressedBytes: 12 * 2 ** 20 },
        pacing: { burstPackets: 4, burstGapUs: 2_000 },
        dynamic: false,
        idleExitUs: 0,
        progressRequest: null,
        ...options,
      }),
  );
}

const blocksOf = (sent: Sent[]): string[] =>
  sent.flatMap((s) => (s.message.type === "block" ? [`${s.message.chunk}:${s.message.block}`] : []));
const range = (chunk: number, first: number, count: number): string[] => Array.from({ length: count }, (_, i) => `${chunk}:${first + i}`);
const sendTimes = (sent: Sent[]): number[] => [...new Set(sent.filter((s) => s.message.type === "block").map((s) => s.atUs))];

/** Runs the bench until the server has nothing left to send (no send timer armed for long). */
function drain(bench: Bench, untilUs = 10_000_000): Sent[] {
  bench.runUntil(untilUs);
  return bench.take();
}

describe("frisbeed machine: joins", () => {
  const fixture = JSON.parse(readFileSync(emulabFixture("frisbee.json"), "utf8")) as {
    handmade_requests: { request: { hex: string }; reply: { hex: string } }[];
  };
  const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
  const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  it("answers the hand-made JOIN and JOIN2 with the bytes the original frisbeed answered them, to the joiner alone", () => {
    // The capture's server served disk-4mib.ndz: 2 chunks, 2,097,152 bytes.
    for (const { request, reply } of fixture.handmade_requests) {
      const bench = new Bench(SERVER);
      serverOn(bench, { image: { blockCount: 2048, byteCount: 2_097_152, uncompressedBytes: 4 * 2 ** 20 } });
      const decoded = decode(fromHex(request.hex));
      if (!decoded.ok) throw new Error(decoded.error);
      bench.receive(LOCALHOST, decoded.message, PORT);
      const sent = bench.take();
      expect(sent).toHaveLength(1);
      const [answer] = sent as [Sent];
      expect([answer.to, answer.port]).toEqual([LOCALHOST, PORT]);
      expect(toHex(encode(answer.message, LOCALHOST))).toBe(reply.hex);
    }
  });

  it("counts joins and members, logs each join, and forgets a member that leaves", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench);
    expect(bench.joined).toEqual([GROUP]);
    bench.receive(CLIENT_A, msg.join(5));
    bench.receive(CLIENT_B, msg.join2(6));
    bench.receive(CLIENT_B, msg.join2(6));
    expect(server.stats.joins).toBe(3);
    expect(server.clients).toBe(2);
    expect(bench.eventsOf("frisbee.join")).toEqual([{ client: 5 }, { client: 6 }, { client: 6 }]);
    bench.nowUs = 3_000_000;
    bench.receive(CLIENT_A, msg.leave2(5, 3, emptyStats()));
    bench.receive(CLIENT_B, msg.leave(6, 2));
    expect(server.stats.leaves).toBe(2);
    expect(server.clients).toBe(0);
    expect(bench.eventsOf("frisbee.leave")).toEqual([
      { client: 5, from: CLIENT_A, elapsedSec: 3 },
      { client: 6, from: CLIENT_B, elapsedSec: 2 },
    ]);
  });

  it("answers every join but tracks at most clientsMax members", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench);
    for (let c = 0; c <= SERVER_DEFAULTS.clientsMax; c++) bench.receive(CLIENT_A, msg.join(c));
    expect(bench.take()).toHaveLength(SERVER_DEFAULTS.clientsMax + 1);
    expect(server.clients).toBe(SERVER_DEFAULTS.clientsMax);
    expect(server.stats.joins).toBe(SERVER_DEFAULTS.clientsMax + 1);
  });

  it("answers what only a server sends (replies, progress requests, blocks) with nothing", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench);
    for (const m of [msg.joinReply(5), msg.join2Reply(1, 0, 5), msg.progressRequest(1, 1), msg.block(0, 0, null)]) bench.receive(CLIENT_A, m);
    bench.receive(CLIENT_A, { type: "traffic", wireBytes: 10 });
    expect(drain(bench)).toEqual([]);
    // Control messages are counted; blocks (another server's) and unknown messages are not.
    expect(server.stats.controlReceived).toBe(3);
    expect(server.stats.unknown).toBe(1);
    expect(server.stats.joins).toBe(0);
  });

  it("refuses an image with no blocks and pacing below one packet or one microsecond", () => {
    const bench = new Bench(SERVER);
    const image = { blockCount: 0, byteCount: 0, uncompressedBytes: 0 };
    expect(() => serverOn(bench, { image })).toThrow(/at least one block, got 0/);
    expect(() => serverOn(bench, { pacing: { burstPackets: 0, burstGapUs: 2_000 } })).toThrow(/burst and gap/);
    expect(() => serverOn(bench, { pacing: { burstPackets: 1, burstGapUs: 0 } })).toThrow(/burst and gap/);
    expect(() => serverOn(bench, { pacing: { burstPackets: 1, burstGapUs: 1 } })).not.toThrow();
  });
});

describe("frisbeed machine: sending", () => {
  it("sends a requested chunk at its first look at the queue after the request, in bursts of burstPackets every burstGapUs", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench);
    // Idle since 0, it looks every millisecond: a request at 2.5 ms is seen at 3 ms.
    bench.runUntil(2_500);
    bench.receive(CLIENT_A, msg.request(2, 0, CHUNK_BLOCKS));
    const sent = drain(bench);
    expect(blocksOf(sent)).toEqual(range(2, 0, CHUNK_BLOCKS));
    expect(sent.every((s) => s.to === GROUP && s.port === PORT)).toBe(true);
    const times = sendTimes(sent);
    expect(times).toHaveLength(CHUNK_BLOCKS / 4);
    expect(times.slice(0, 3)).toEqual([3_000, 5_000, 7_000]);
    expect(times[times.length - 1]).toBe(3_000 + (CHUNK_BLOCKS / 4 - 1) * 2_000);
    expect(server.stats.blocksSent).toBe(CHUNK_BLOCKS);
    expect(server.stats.blocksResent).toBe(0);
    expect(server.stats.requests).toBe(1);
  });

  it("sees a request at its next look, never the one at the same instant, and after a pause starts a new burst interval", () => {
    const bench = new Bench(SERVER);
    serverOn(bench, { pacing: { burstPackets: 2, burstGapUs: 5_000 } });
    bench.runUntil(4_000);
    bench.receive(CLIENT_A, msg.request(0, 0, 3));
    let sent = drain(bench, 100_500);
    // The look at 4 ms has passed: the one at 5 ms finds it; 2 blocks, then the third a gap later.
    expect(sent.map((s) => s.atUs)).toEqual([5_000, 5_000, 10_000]);
    bench.receive(CLIENT_A, msg.request(1, 10, 3));
    sent = drain(bench, 200_000);
    // Idle since 10 ms: the look at 101 ms finds it and starts a burst there, not on the old grid.
    expect(sent.map((s) => [s.atUs, blocksOf([s])[0]])).toEqual([[101_000, "1:10"], [101_000, "1:11"], [106_000, "1:12"]]);
  });

  it("reads the disk 32 blocks at a time and sends a read's blocks with its data only once it completes", () => {
    const bench = new Bench(SERVER, { disk: true });
    const server = serverOn(bench, { pacing: { burstPackets: 1_000, burstGapUs: 1_000 } });
    bench.receive(CLIENT_A, msg.request(1, 100, 40));
    bench.runUntil(1_000);
    expect(bench.reads).toEqual([{ atUs: 1_000, op: 1, offset: (1 * CHUNK_BLOCKS + 100) * 1024, bytes: 32 * 1024 }]);
    expect(bench.take()).toEqual([]);
    // A completion for another read is not this one.
    server.diskDone(0, null, new Uint8Array(32 * 1024));
    expect(bench.take()).toEqual([]);
    const data = new Uint8Array(32 * 1024).map((_, i) => i >> 10);
    server.diskDone(1, null, data);
    const sent = bench.take();
    expect(blocksOf(sent)).toEqual(range(1, 100, 32));
    const block5 = sent[5]?.message as Extract<FrisbeeMessage, { type: "block" }>;
    expect(block5.data?.length).toBe(1024);
    expect(block5.data?.every((b) => b === 5)).toBe(true);
    expect(bench.reads[1]).toEqual({ atUs: 1_000, op: 1, offset: (1 * CHUNK_BLOCKS + 132) * 1024, bytes: 8 * 1024 });
    server.diskDone(1, null, new Uint8Array(8 * 1024));
    expect(blocksOf(bench.take())).toEqual(range(1, 132, 8));
  });

  it("starts the next burst at once after a burst that ended past its time, without catching up the ones missed", () => {
    const bench = new Bench(SERVER, { disk: true });
    const server = serverOn(bench, { pacing: { burstPackets: 2, burstGapUs: 1_000 } });
    bench.receive(CLIENT_A, msg.request(0, 0, 10));
    bench.runUntil(1_000);
    // The look at 1 ms found it (next burst due at 2 ms); the disk answers at 10 ms.
    bench.nowUs = 10_000;
    server.diskDone(0, null, new Uint8Array(10 * 1024));
    bench.runUntil(100_000);
    expect(bench.take().map((s) => s.atUs)).toEqual([10_000, 10_000, 10_000, 10_000, 11_000, 11_000, 12_000, 12_000, 13_000, 13_000]);
  });

  it("reports a failed read, skips its blocks and goes on with the next read", () => {
    const bench = new Bench(SERVER, { disk: true });
    const server = serverOn(bench, { pacing: { burstPackets: 1_000, burstGapUs: 1_000 } });
    bench.receive(CLIENT_A, msg.request(0, 0, 64));
    bench.runUntil(1_000);
    server.diskDone(0, "EIO");
    expect(bench.eventsOf("frisbee.read-error")).toEqual([{ chunk: 0, block: 0, error: "EIO" }]);
    expect(bench.take()).toEqual([]);
    expect(bench.reads.map((r) => r.offset / 1024)).toEqual([0, 32]);
    server.diskDone(0, null, new Uint8Array(32 * 1024));
    expect(blocksOf(bench.take())).toEqual(range(0, 32, 32));
    expect(server.stats.blocksSent).toBe(32);
  });

  it("sends only the blocks a short last chunk has, and nothing for a request past them", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench, { image: { blockCount: CHUNK_BLOCKS + 100, byteCount: 0, uncompressedBytes: 0 } });
    bench.receive(CLIENT_A, msg.request(1, 0, CHUNK_BLOCKS));
    expect(blocksOf(drain(bench))).toEqual(range(1, 0, 100));
    bench.receive(CLIENT_A, msg.request(1, 100, 50));
    bench.receive(CLIENT_A, msg.prequest(1, 0, BlockBitmap.full().bytes.slice()));
    expect(blocksOf(drain(bench, 20_000_000))).toEqual(range(1, 0, 100));
    expect(server.stats.malformed).toBe(0);
    // Nothing was left to queue: neither merged nor dropped.
    expect([server.stats.merged, server.stats.dropped]).toEqual([0, 0]);
  });

  it("counts a request for a chunk the image does not have as malformed, and says so", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench);
    bench.receive(CLIENT_A, msg.request(4, 0, 1));
    bench.receive(CLIENT_A, msg.prequest(9, 0, BlockBitmap.full().bytes.slice()));
    expect(drain(bench)).toEqual([]);
    expect(server.stats.malformed).toBe(2);
    expect(bench.eventsOf("frisbee.bad-message")).toEqual([
      { error: "request for chunk 4 of an image of 4 chunks" },
      { error: "request for chunk 9 of an image of 4 chunks" },
    ]);
  });

  it("merges requests for a queued chunk, drops covered ones, counts both, and sends each block once", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench);
    bench.receive(CLIENT_A, msg.request(3, 0, 10));
    bench.receive(CLIENT_B, msg.request(3, 5, 10));
    bench.receive(CLIENT_B, msg.request(3, 2, 3));
    expect([server.stats.merged, server.stats.dropped]).toEqual([1, 1]);
    expect(blocksOf(drain(bench))).toEqual(range(3, 0, 15));
    // Asked again once sent: sent again, and counted as re-sent.
    bench.receive(CLIENT_A, msg.request(3, 0, 2));
    expect(blocksOf(drain(bench, 20_000_000))).toEqual(range(3, 0, 2));
    expect(server.stats.blocksResent).toBe(2);
    expect(server.stats.blocksSent).toBe(17);
  });

  it("re-queues a partial request reaching back into the run in flight: those blocks go out again after the rest", () => {
    const bench = new Bench(SERVER);
    serverOn(bench, { pacing: { burstPackets: 1, burstGapUs: 1_000 } });
    const first = new BlockBitmap();
    first.setRange(0, 10);
    first.setRange(50, 5);
    bench.receive(CLIENT_A, msg.prequest(0, 0, first.bytes.slice()));
    bench.runUntil(3_500);
    expect(blocksOf(bench.take())).toEqual(range(0, 0, 3));
    // Blocks 1 and 2 are already sent in this run: the request is queued behind the head's 50..54.
    const again = new BlockBitmap();
    again.setRange(1, 2);
    bench.receive(CLIENT_B, msg.prequest(0, 1, again.bytes.slice()));
    expect(blocksOf(drain(bench))).toEqual([...range(0, 3, 7), ...range(0, 50, 5), ...range(0, 1, 2)]);
  });
});

describe("frisbeed machine: --dynamic burst adaptation", () => {
  const ADAPT_US = SERVER_DEFAULTS.adaptIntervalUs;

  it("grows the burst by one every 500 ms without loss, up to 128, and never adapts without --dynamic", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench, { dynamic: true, pacing: { burstPackets: 120, burstGapUs: 2_000 } });
    const bursts: number[] = [];
    for (let i = 1; i <= 10; i++) {
      bench.runUntil(i * ADAPT_US);
      bursts.push(server.stats.burstPackets);
    }
    expect(bursts).toEqual([121, 122, 123, 124, 125, 126, 127, 128, 128, 128]);
    const fixed = new Bench(SERVER);
    const still = serverOn(fixed, { pacing: { burstPackets: 120, burstGapUs: 2_000 } });
    fixed.runUntil(10 * ADAPT_US);
    expect(still.stats.burstPackets).toBe(120);
    expect([...fixed.timers.keys()]).not.toContain(2);
  });

  it("shrinks the burst by a tenth, at least one and to no less than one, after a partial request or a chunk asked for again", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench, { dynamic: true, pacing: { burstPackets: 30, burstGapUs: 2_000 } });
    const partial = new BlockBitmap();
    partial.set(7);
    bench.receive(CLIENT_A, msg.prequest(0, 0, partial.bytes.slice()));
    bench.runUntil(ADAPT_US);
    expect(server.stats.burstPackets).toBe(27);
    // Chunk 0 was sent (its block 7): a whole-chunk request for it is a sign of loss too.
    bench.receive(CLIENT_A, msg.request(0, 0, CHUNK_BLOCKS));
    bench.runUntil(2 * ADAPT_US);
    expect(server.stats.burstPackets).toBe(24);
    // A first request for a chunk never sent is not.
    bench.receive(CLIENT_A, msg.request(1, 0, 1));
    bench.runUntil(3 * ADAPT_US);
    expect(server.stats.burstPackets).toBe(25);
    // Small bursts shrink by one (a tenth rounds to nothing), down to one.
    const small = new Bench(SERVER);
    const slow = serverOn(small, { dynamic: true, pacing: { burstPackets: 3, burstGapUs: 2_000 } });
    const seen: number[] = [];
    for (let i = 1; i <= 4; i++) {
      small.receive(CLIENT_A, msg.prequest(0, 0, partial.bytes.slice()));
      small.runUntil(i * ADAPT_US);
      seen.push(slow.stats.burstPackets);
    }
    expect(seen).toEqual([2, 1, 1, 1]);
  });

  it("sends the adapted burst: after growing, more blocks go out in each gap", () => {
    const bench = new Bench(SERVER);
    serverOn(bench, { dynamic: true, pacing: { burstPackets: 4, burstGapUs: 2_000 } });
    bench.runUntil(2 * ADAPT_US);
    bench.receive(CLIENT_A, msg.request(0, 0, 100));
    const sent = drain(bench, 2 * ADAPT_US + 10_000);
    const perSend = new Map<number, number>();
    for (const s of sent) perSend.set(s.atUs, (perSend.get(s.atUs) ?? 0) + 1);
    expect([...perSend.values()].slice(0, 3)).toEqual([6, 6, 6]);
  });
});

describe("frisbeed machine: progress requests and reports", () => {
  it("asks the group at start and each joiner after its reply, for reports every interval at the level set", () => {
    const bench = new Bench(SERVER);
    serverOn(bench, { progressRequest: { intervalUs: 30_000_000, level: PROGRESS_LEVEL.full, once: false } });
    expect(bench.take().map((s) => [s.to, s.message])).toEqual([[GROUP, msg.progressRequest(30, PROGRESS_LEVEL.full)]]);
    bench.receive(CLIENT_A, msg.join(5), 7701);
    expect(bench.take().map((s) => [s.to, s.port, s.message.type])).toEqual([
      [CLIENT_A, 7701, "joinReply"],
      [CLIENT_A, 7701, "progressRequest"],
    ]);
  });

  it("asks each client once, at a random time within the interval after it joined, unless it left or asked already", () => {
    const bench = new Bench(SERVER);
    serverOn(bench, { progressRequest: { intervalUs: 1_000_000, level: PROGRESS_LEVEL.summary, once: true } });
    expect(bench.take()).toEqual([]);
    bench.receive(CLIENT_A, msg.join(5));
    bench.receive(CLIENT_A, msg.join(5)); // its reply was lost: joins again
    bench.receive(CLIENT_B, msg.join(6));
    bench.receive(CLIENT_B, msg.leave(6, 0));
    bench.take();
    bench.runUntil(1_000_000);
    const asks = bench.take();
    expect(asks.map((s) => [s.to, s.message])).toEqual([[CLIENT_A, msg.progressRequest(0, PROGRESS_LEVEL.summary)]]);
    expect((asks[0] as Sent).atUs).toBeGreaterThan(0);
    expect((asks[0] as Sent).atUs).toBeLessThanOrEqual(1_000_000);
    // A later join is a new life: asked again.
    bench.receive(CLIENT_A, msg.join(5));
    bench.take();
    bench.runUntil(2_000_001);
    expect(bench.take().map((s) => s.message.type)).toEqual(["progressRequest"]);
  });

  it("spreads the once-requests of clients that join together over the interval", () => {
    const bench = new Bench(SERVER);
    serverOn(bench, { progressRequest: { intervalUs: 10_000_000, level: PROGRESS_LEVEL.summary, once: true } });
    for (let c = 0; c < 20; c++) bench.receive(100 + c, msg.join(c));
    bench.take();
    bench.runUntil(10_000_000);
    const times = bench.take().map((s) => s.atUs);
    expect(times).toHaveLength(20);
    expect(new Set(times).size).toBeGreaterThan(15);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it("logs each report with the fields the original's log names, its gap and an estimate of time left", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench);
    const report = (seq: number, bytesWritten: number): FrisbeeMessage =>
      msg.progress(5, 0, seq * 10, PROGRESS_LEVEL.summary, seq, { chunksReceived: seq, chunksDecompressed: seq - 1, bytesWritten }, null);
    bench.nowUs = 1_000_000;
    bench.receive(CLIENT_A, report(1, 0));
    bench.nowUs = 3_000_000;
    bench.receive(CLIENT_A, report(4, 6 * 2 ** 20));
    bench.receive(CLIENT_A, msg.progress(5, 0, 1, PROGRESS_LEVEL.none, 5, null, null));
    expect(server.stats.progressReports).toBe(3);
    expect(server.stats.progressLost).toBe(2);
    expect(bench.eventsOf("frisbee.report-gap")).toEqual([{ client: 5, missing: 2, seq: 4 }]);
    expect(bench.eventsOf("frisbee.progress")).toEqual([
      { client: 5, from: CLIENT_A, TSTAMP: 10, SEQUENCE: 1, CHUNKS_RECV: 1, CHUNKS_DECOMP: 0, BYTES_WRITTEN: 0, secondsLeft: -1, level: 1 },
      // 6 MiB in 2 s, 6 MiB of 12 left: 2 s.
      { client: 5, from: CLIENT_A, TSTAMP: 40, SEQUENCE: 4, CHUNKS_RECV: 4, CHUNKS_DECOMP: 3, BYTES_WRITTEN: 6 * 2 ** 20, secondsLeft: 2, level: 1 },
      { client: 5, from: CLIENT_A, TSTAMP: 1, SEQUENCE: 5, CHUNKS_RECV: 0, CHUNKS_DECOMP: 0, BYTES_WRITTEN: 0, secondsLeft: -1, level: 0 },
    ]);
    // A client that leaves is forgotten: its next life starts a new sequence.
    bench.receive(CLIENT_A, msg.leave(5, 3));
    expect(server.progress.client(5)).toBeUndefined();
  });
});

describe("frisbeed machine: idle exit and busy time", () => {
  it("exits after idleExitUs with no request or report, once, and then ignores everything", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench, { idleExitUs: 1_000_000, dynamic: true });
    bench.runUntil(600_000);
    bench.receive(CLIENT_A, msg.join(5));
    bench.runUntil(1_500_000);
    expect(server.done).toBe(false);
    bench.runUntil(1_600_000);
    expect(server.done).toBe(true);
    expect(server.stats.exitedAtUs).toBe(1_600_000);
    expect(bench.eventsOf("frisbee.idle-exit")).toEqual([{ idleSec: 1 }]);
    expect(bench.timers.size).toBe(0);
    bench.take();
    bench.receive(CLIENT_A, msg.join(6));
    server.timer(1);
    expect(bench.take()).toEqual([]);
    expect(server.stats.joins).toBe(1);
  });

  it("never exits with idleExitUs 0", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench, { idleExitUs: 0 });
    bench.runUntil(SERVER_DEFAULTS.idleExitUs * 2);
    expect(server.done).toBe(false);
  });

  it("counts the time it had work to send, from the look that found it to the look that found none", () => {
    const bench = new Bench(SERVER);
    const server = serverOn(bench, { pacing: { burstPackets: 1, burstGapUs: 1_000 } });
    bench.runUntil(10_000);
    bench.receive(CLIENT_A, msg.request(0, 0, 5));
    bench.runUntil(12_500);
    // The look at 11 ms found the request.
    expect(server.stats.busyUs).toBe(0);
    expect(server.busyUsNow()).toBe(1_500);
    bench.runUntil(1_000_000);
    // Sends at 11, 12, 13, 14, 15 ms; finds the queue empty at 16 ms.
    expect(server.stats.busyUs).toBe(5_000);
    expect(server.busyUsNow()).toBe(5_000);
  });
});
