import { describe, expect, it } from "vitest";
import type { Env, Process } from "../../../core/engine/index.js";
import { FrisbeeClient } from "../../../core/frisbee/client.js";
import { CHUNK_BLOCKS, SERVER_DEFAULTS } from "../../../core/frisbee/constants.js";
import { PKT_TYPE_REQUEST, PROGRESS_LEVEL } from "../../../core/frisbee/messages.js";
import { UNKNOWN_LOG_INTERVAL_US } from "../../../core/frisbee/payload.js";
import { pacedBlocksPerSec } from "../../../core/frisbee/rate.js";
import type { Host } from "../../../sim/host.js";
import { GROUP, imaging, MIB, PORT, runtimeUs, type Imaging, type SentBlock } from "./support.js";

/** Simulated time a test may run; every transfer here ends long before. */
const RUN_LIMIT_US = 60_000_000;

function clientsOf(t: Imaging): FrisbeeClient[] {
  return t.clients.map((_, i) => t.client(i));
}

function expectEveryChunkWrittenOnce(client: FrisbeeClient, t: Imaging): void {
  expect(client.state).toBe("done");
  expect([...client.chunkWrites()]).toEqual(new Array(client.chunkCount).fill(1));
  expect(client.counters.rewrites).toBe(0);
  expect(client.counters.bytesWritten).toBe(t.totalRawBytes);
}

/** The most sends in any window [t, t + windowUs). */
function mostInAnyWindow(sent: readonly SentBlock[], windowUs: number): number {
  let most = 0;
  for (let last = 0, first = 0; last < sent.length; last++) {
    while ((sent[last] as SentBlock).atUs - (sent[first] as SentBlock).atUs >= windowUs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

/**
 * Groups sends into bursts as the server does (a burst begins with the first send at or after the
 * previous burst's start plus the gap) and returns the largest burst.
 */
function largestBurst(sent: readonly SentBlock[], gapUs: number): number {
  let largest = 0;
  let startUs = -Infinity;
  let inBurst = 0;
  for (const s of sent) {
    if (s.atUs >= startUs + gapUs) {
      startUs = s.atUs;
      inBurst = 0;
    }
    largest = Math.max(largest, ++inBurst);
  }
  return largest;
}

describe("Frisbee server and clients in a simulated world", () => {
  describe("without loss", () => {
    it("lets every client finish, writing every chunk once, with each block sent once", () => {
      const t = imaging({ clients: 3, chunks: 20 });
      t.world.run(RUN_LIMIT_US);
      for (const client of clientsOf(t)) expectEveryChunkWrittenOnce(client, t);
      const server = t.server().stats;
      expect(server.blocksSent).toBe(t.blockCount);
      expect(server.blocksResent).toBe(0);
      const perBlock = new Set(t.sentBlocks.map((s) => s.chunk * CHUNK_BLOCKS + s.block));
      expect(perBlock.size).toBe(t.blockCount);
    });

    it("counts the time the sender had work (busyUs): within its first and last send, at no more than its pacing", () => {
      const t = imaging({ clients: 3, chunks: 20 });
      t.world.run(RUN_LIMIT_US);
      const stats = t.server().stats;
      const first = (t.sentBlocks[0] as SentBlock).atUs;
      const last = (t.sentBlocks[t.sentBlocks.length - 1] as SentBlock).atUs;
      // Busy from the look that found work to the look that found none (at most a gap after the last send).
      expect(stats.busyUs).toBeGreaterThanOrEqual(last - first);
      expect(stats.busyUs).toBeLessThanOrEqual(last - first + t.pacing.burstGapUs + SERVER_DEFAULTS.idlePollUs);
      expect(stats.blocksSent / (stats.busyUs / 1e6)).toBeLessThanOrEqual(pacedBlocksPerSec(t.pacing) * 1.001);
      expect(t.server().busyUsNow()).toBe(stats.busyUs);
    });

    it("counts a stretch of sending still running in busyUsNow (a server stopped while it sends)", () => {
      const t = imaging({ clients: 2, chunks: 20 });
      const firstUs = 100_000;
      t.world.run(firstUs);
      const server = t.server();
      // Still sending: the stretch has not ended, so only busyUsNow counts it, up to now.
      expect(server.stats.busyUs).toBe(0);
      const startedUs = (t.sentBlocks[0] as SentBlock).atUs;
      expect(server.busyUsNow()).toBeGreaterThanOrEqual(firstUs - startedUs);
      expect(server.busyUsNow()).toBeLessThanOrEqual(firstUs - startedUs + SERVER_DEFAULTS.idlePollUs);
    });

    it("exits idle only once the sender has found the queue empty, even when it sent for longer than the idle time without a request", () => {
      // A chunk takes 2 s at 1 block per 2 ms, and a lone client asks only when one completes: the
      // idle time (0.5 s) passes while the server is still sending. It used to re-arm its idle
      // check at the passed deadline and fire it again at once, for ever, at one instant.
      const t = imaging({ clients: 1, chunks: 3, pacing: { burstPackets: 1, burstGapUs: 2_000 }, idleExitUs: 500_000 });
      const stop = t.world.engine.run({ untilUs: RUN_LIMIT_US, eventsMax: 2_000_000 });
      expect(stop).not.toBe("eventsMax");
      expectEveryChunkWrittenOnce(t.client(0), t);
      const stats = t.server().stats;
      const lastSendUs = (t.sentBlocks[t.sentBlocks.length - 1] as SentBlock).atUs;
      expect(stats.exitedAtUs).toBeGreaterThan(lastSendUs);
      expect(t.world.eventCounts.get("frisbee.idle-exit")).toBe(1);
    });

    it("sends only the blocks of a short last chunk and the clients write it", () => {
      const blockCount = 10 * CHUNK_BLOCKS - 300;
      const t = imaging({ clients: 2, chunks: 10, blockCount, clientDownlinkLoss: 0.02 });
      t.world.run(RUN_LIMIT_US);
      for (const client of clientsOf(t)) expectEveryChunkWrittenOnce(client, t);
      expect(t.sentBlocks.filter((s) => s.chunk === 9 && s.block >= CHUNK_BLOCKS - 300)).toEqual([]);
      expect(t.sentBlocks.some((s) => s.chunk === 9 && s.block === CHUNK_BLOCKS - 301)).toBe(true);
    });

    it("runs the whole transfer with every message encoded in the original's bytes", () => {
      const t = imaging({ clients: 2, chunks: 10, encodeMessages: true, clientDownlinkLoss: 0.02 });
      t.world.run(RUN_LIMIT_US);
      for (const client of clientsOf(t)) {
        expectEveryChunkWrittenOnce(client, t);
        expect(client.counters.malformed).toBe(0);
        expect(client.counters.unknown).toBe(0);
      }
      expect(t.sentBlocks.length).toBeGreaterThanOrEqual(t.blockCount);
      expect(t.sentBlocks.every((s) => s.encoded)).toBe(true);
      expect(t.server().stats.malformed).toBe(0);
      expect(t.server().stats.leaves).toBe(2);
    });
  });

  describe("pacing", () => {
    it("never puts more than burstPackets block sends in a window of burstGapUs while the queue stays full", () => {
      const t = imaging({ clients: 3, chunks: 20 });
      t.world.run(RUN_LIMIT_US);
      expect(t.sentBlocks.length).toBe(t.blockCount);
      expect(mostInAnyWindow(t.sentBlocks, t.pacing.burstGapUs)).toBe(t.pacing.burstPackets);
    });

    it("never sends a burst larger than burstPackets, bursts beginning burstGapUs apart, under loss", () => {
      const t = imaging({ clients: 4, chunks: 10, clientDownlinkLoss: 0.02 });
      t.world.run(RUN_LIMIT_US);
      expect(t.server().stats.blocksResent).toBeGreaterThan(0);
      expect(largestBurst(t.sentBlocks, t.pacing.burstGapUs)).toBe(t.pacing.burstPackets);
      // A burst cut short by an empty queue is finished when requests come back, before the next
      // burst: as in the original, a sliding window may then see up to two bursts' worth, never more.
      expect(mostInAnyWindow(t.sentBlocks, t.pacing.burstGapUs)).toBeLessThan(2 * t.pacing.burstPackets);
    });
  });

  describe("dynamic pacing (--dynamic)", () => {
    const ADAPT_US = SERVER_DEFAULTS.adaptIntervalUs;
    /** The server's burst after each adaptation interval, until `untilUs`. */
    const burstsOver = (t: Imaging, untilUs: number): number[] => {
      const bursts: number[] = [];
      for (let at = ADAPT_US; at <= untilUs; at += ADAPT_US) {
        t.world.run(at + 1);
        bursts.push(t.server().stats.burstPackets);
      }
      return bursts;
    };

    it("grows the burst by one block every 500 ms while no loss is seen, sending faster than the fixed pacing, up to its limit", () => {
      const t = imaging({ clients: 2, chunks: 40, dynamic: true });
      const start = t.pacing.burstPackets;
      const bursts = burstsOver(t, 2_000_000);
      expect(bursts).toEqual([start + 1, start + 2, start + 3, start + 4]);
      // Bursts of the interval before the last adaptation: start + 3 blocks each.
      expect(largestBurst(t.sentBlocks.filter((b) => b.atUs < 2_000_000), t.pacing.burstGapUs)).toBe(start + 3);
      t.world.run(RUN_LIMIT_US);
      for (const c of clientsOf(t)) expectEveryChunkWrittenOnce(c, t);
      expect(t.server().stats.burstPackets).toBe(SERVER_DEFAULTS.adaptBurstMax);
      const fixed = imaging({ clients: 2, chunks: 40 });
      fixed.world.run(RUN_LIMIT_US);
      expect(fixed.server().stats.burstPackets).toBe(start);
      expect(runtimeUs(t.client(0))).toBeLessThan(runtimeUs(fixed.client(0)));
    });

    it("shrinks the burst by a tenth (at least one block) after an interval in which clients asked for blocks again, else grows it by one", () => {
      const t = imaging({ clients: 4, chunks: 40, dynamic: true, clientDownlinkLoss: 0.1 });
      const start = t.pacing.burstPackets;
      const bursts = [start, ...burstsOver(t, 3_000_000)];
      const shrink = (b: number): number => Math.max(1, Math.min(b - 1, Math.floor(b * 0.9)));
      // Each interval either saw loss (partial requests, or a chunk asked for again) and shrank, or grew by one.
      const steps = bursts.slice(1).map((b, i) => (b === shrink(bursts[i]!) ? "shrink" : b === bursts[i]! + 1 ? "grow" : `jump to ${b}`));
      expect(steps.filter((s) => s !== "shrink" && s !== "grow")).toEqual([]);
      expect(steps.filter((s) => s === "shrink").length).toBeGreaterThanOrEqual(2);
      t.world.run(RUN_LIMIT_US);
      for (const c of clientsOf(t)) expectEveryChunkWrittenOnce(c, t);
    });
  });

  describe("runtime", () => {
    it("is the blocks over the paced rate when the network is the bottleneck", () => {
      const t = imaging({ clients: 1, chunks: 20 });
      t.world.run(RUN_LIMIT_US);
      const client = t.client(0);
      expect(client.state).toBe("done");
      // 20480 blocks at 16 per 2 ms: 2.56 s (measured 2.5636 s: one round trip and the last chunk's write).
      const expectedUs = (t.blockCount / pacedBlocksPerSec(t.pacing)) * 1e6;
      expect(expectedUs).toBe(2_560_000);
      expect(Math.abs(runtimeUs(client) - expectedUs) / expectedUs).toBeLessThan(0.02);
    });

    it("is the raw bytes over the disk rate, plus receiving the first chunk, when the disk is the bottleneck", () => {
      const diskWriteBytesPerSec = 5 * MIB;
      const t = imaging({ clients: 1, chunks: 10, rawChunkBytes: 3 * MIB, diskWriteBytesPerSec });
      t.world.run(RUN_LIMIT_US);
      expect(t.client(0).state).toBe("done");
      // 30 MiB at 5 MiB/s is 6 s; nothing can be written before the first chunk arrives (1024
      // blocks at 8000 blocks/s: 0.128 s). Measured: 6.1286 s.
      const startUpUs = (CHUNK_BLOCKS / pacedBlocksPerSec(t.pacing)) * 1e6;
      const expectedUs = (t.totalRawBytes / diskWriteBytesPerSec) * 1e6 + startUpUs;
      expect(Math.abs(runtimeUs(t.client(0)) - expectedUs) / expectedUs).toBeLessThan(0.02);
    });

    it("is the same for 8 clients as for 1 when the disk is the bottleneck", () => {
      const run = (clients: number): number[] => {
        const t = imaging({ clients, chunks: 10, rawChunkBytes: 3 * MIB, diskWriteBytesPerSec: 5 * MIB });
        t.world.run(RUN_LIMIT_US);
        for (const client of clientsOf(t)) expectEveryChunkWrittenOnce(client, t);
        return clientsOf(t).map(runtimeUs);
      };
      const [alone] = run(1) as [number];
      for (const together of run(8)) expect(Math.abs(together - alone) / alone).toBeLessThan(0.02);
    });
  });

  describe("loss", () => {
    it("lets every client finish and write every chunk once with 2% loss on each client's downlink", () => {
      const t = imaging({ clients: 4, chunks: 10, clientDownlinkLoss: 0.02 });
      t.world.run(RUN_LIMIT_US);
      expect(t.world.network.stats.lostDownlink).toBeGreaterThan(0);
      for (const client of clientsOf(t)) expectEveryChunkWrittenOnce(client, t);
      expect(t.server().stats.prequests).toBeGreaterThan(0);
    });

    it("lets every client finish when the server's uplink loses packets every client then misses", () => {
      const t = imaging({ clients: 4, chunks: 10, serverUplinkLoss: 0.02 });
      t.world.run(RUN_LIMIT_US);
      expect(t.world.network.stats.lostUplink).toBeGreaterThan(0);
      for (const client of clientsOf(t)) expectEveryChunkWrittenOnce(client, t);
    });
  });

  describe("what a client is given", () => {
    it("takes a layout (counting) or a chunk-data port (real data), and refuses neither or both", () => {
      const layout = { compressedBytes: () => 1024, rawOffset: () => 0, rawBytes: () => 1024 };
      const chunkData = { inflate: () => {} };
      const base = { group: GROUP, port: PORT, clientId: 1, join2: false, heartbeatIntervalUs: 0 };
      const env = {} as Env;
      expect(() => new FrisbeeClient(env, { ...base, layout })).not.toThrow();
      expect(() => new FrisbeeClient(env, { ...base, chunkData })).not.toThrow();
      expect(() => new FrisbeeClient(env, { ...base } as never)).toThrow(/a layout .* or a chunk-data port/);
      expect(() => new FrisbeeClient(env, { ...base, layout, chunkData } as never)).toThrow(/one of the two/);
    });
  });

  describe("joining and leaving", () => {
    it("lets a client that joins at 1 s finish, re-sending the blocks it missed", () => {
      const t = imaging({ clients: 2, chunks: 20, lateClients: 1 });
      t.world.call(1_000_000, () => t.installClient(2));
      t.world.run(RUN_LIMIT_US);
      for (const client of clientsOf(t)) expectEveryChunkWrittenOnce(client, t);
      const late = t.client(2);
      expect(late.counters.joinedAtUs).toBeGreaterThanOrEqual(1_000_000);
      expect(late.counters.doneAtUs).toBeGreaterThan(t.client(0).counters.doneAtUs);
      expect(t.server().stats.blocksResent).toBeGreaterThan(0);
    });

    it("lets a client leave early and the others finish", () => {
      const t = imaging({ clients: 3, chunks: 20, clientOverrides: (i) => (i === 0 ? { leaveAtUs: 500_000 } : {}) });
      t.world.run(RUN_LIMIT_US);
      const leaver = t.client(0);
      expect(leaver.state).toBe("left");
      expect(leaver.counters.doneAtUs).toBe(500_000);
      expect(leaver.counters.chunksWritten).toBeLessThan(20);
      expectEveryChunkWrittenOnce(t.client(1), t);
      expectEveryChunkWrittenOnce(t.client(2), t);
      expect(t.server().stats.leaves).toBe(3);
      expect(t.server().clients).toBe(0);
    });
  });

  describe("crashes", () => {
    it("lets the clients finish when the server crashes at 0.5 s and restarts at 1.5 s", () => {
      const t = imaging({ clients: 3, chunks: 20 });
      t.world.call(500_000, () => t.world.crash(t.serverHost));
      t.world.call(1_500_000, () => t.world.restart(t.serverHost));
      t.world.run(RUN_LIMIT_US);
      expect(t.servers).toHaveLength(2);
      for (const client of clientsOf(t)) {
        expectEveryChunkWrittenOnce(client, t);
        expect(client.counters.doneAtUs).toBeGreaterThan(1_500_000);
      }
      expect(t.servers[1]?.stats.blocksSent).toBeGreaterThan(0);
    });

    it("lets the other clients finish when one crashes mid-transfer", () => {
      const t = imaging({ clients: 3, chunks: 20 });
      t.world.call(1_000_000, () => t.world.crash(t.clientHosts[1] as Host));
      t.world.run(RUN_LIMIT_US);
      expectEveryChunkWrittenOnce(t.client(0), t);
      expectEveryChunkWrittenOnce(t.client(2), t);
      expect(t.client(1).state).toBe("receiving");
      expect(t.client(1).counters.chunksWritten).toBeLessThan(20);
    });
  });

  describe("heartbeats", () => {
    const slowDisk = { chunks: 10, rawChunkBytes: 3 * MIB, diskWriteBytesPerSec: 5 * MIB };

    it("delivers each client's reports, in sequence, to the server's tracker and as progress events", () => {
      const t = imaging({ clients: 3, ...slowDisk, client: { heartbeatIntervalUs: 1_000_000 } });
      const seenMidway: (number | undefined)[] = [];
      t.world.call(3_000_000, () => {
        for (let i = 0; i < 3; i++) seenMidway.push(t.server().progress.client(1000 + i)?.reports);
      });
      t.world.run(RUN_LIMIT_US);
      for (const reports of seenMidway) expect(reports).toBeGreaterThanOrEqual(1);
      const sent = clientsOf(t).reduce((sum, c) => sum + c.counters.reportsSent, 0);
      expect(sent).toBeGreaterThanOrEqual(3 * 6);
      expect(t.server().stats.progressReports).toBe(sent);
      expect(t.server().progress.reports).toBe(sent);
      expect(t.server().stats.progressLost).toBe(0);

      const progress = t.world.events.filter((e) => e.kind === "frisbee.progress");
      expect(progress).toHaveLength(sent);
      for (let i = 0; i < 3; i++) {
        const mine = progress.filter((e) => e.fields["client"] === 1000 + i);
        for (const e of mine) {
          expect(Object.keys(e.fields)).toEqual(expect.arrayContaining(["TSTAMP", "SEQUENCE", "CHUNKS_RECV", "CHUNKS_DECOMP", "BYTES_WRITTEN"]));
        }
        expect(mine.map((e) => e.fields["SEQUENCE"])).toEqual(mine.map((_, k) => k + 1));
        for (const e of mine) {
          const sentAgoSec = e.timeUs / 1e6 - (e.fields["TSTAMP"] as number);
          expect(sentAgoSec).toBeGreaterThanOrEqual(0);
          expect(sentAgoSec).toBeLessThan(1.01);
        }
        const last = mine[mine.length - 1]?.fields;
        expect(last?.["CHUNKS_RECV"]).toBe(10);
        expect(last?.["CHUNKS_DECOMP"]).toBe(10);
        expect(last?.["BYTES_WRITTEN"]).toBe(t.totalRawBytes);
        // Writing runs at a steady 5 MiB/s, 3 MiB at a time: after two seconds of reports the
        // estimate of time left is within a second of the truth (measured: within 0.7 s).
        const doneUs = t.client(i).counters.doneAtUs;
        const firstUs = (mine[0] as (typeof mine)[number]).timeUs;
        const settled = mine.filter((e) => e.timeUs >= firstUs + 2_000_000 && e.timeUs < doneUs);
        expect(settled.length).toBeGreaterThanOrEqual(2);
        for (const e of settled) {
          const leftUs = (e.fields["secondsLeft"] as number) * 1e6;
          expect(Math.abs(e.timeUs + leftUs - doneUs)).toBeLessThan(1_000_000);
        }
      }
    });

    it("counts lost reports when the server's downlink loses 30% of packets", () => {
      const t = imaging({ clients: 3, ...slowDisk, serverDownlinkLoss: 0.3, client: { heartbeatIntervalUs: 1_000_000 } });
      t.world.run(RUN_LIMIT_US);
      for (const client of clientsOf(t)) expect(client.state).toBe("done");
      const sent = clientsOf(t).reduce((sum, c) => sum + c.counters.reportsSent, 0);
      const server = t.server().stats;
      expect(server.progressLost).toBeGreaterThan(0);
      // Only losses followed by a later report show as gaps.
      expect(server.progressLost).toBeLessThanOrEqual(sent - server.progressReports);
      expect(t.world.events.filter((e) => e.kind === "frisbee.report-gap").length).toBeGreaterThan(0);
    });

    it("makes a client report once when the server asks with interval 0", () => {
      const t = imaging({ clients: 1, ...slowDisk, progressRequest: { intervalUs: 0, level: PROGRESS_LEVEL.summary, once: false } });
      t.world.run(RUN_LIMIT_US);
      expect(t.client(0).state).toBe("done");
      expect(t.client(0).counters.reportsSent).toBe(1);
      expect(t.server().stats.progressReports).toBe(1);
      expect(t.world.events.filter((e) => e.kind === "frisbee.progress")).toHaveLength(1);
    });
  });

  describe("unknown messages", () => {
    it("are ignored and counted by the server and every client, and the transfer completes", () => {
      const t = imaging({ clients: 2, chunks: 10 });
      const stranger = t.world.addHost("stranger", { bandwidthBps: 100e6, latencyUs: 50, queueBytesMax: 512 * 1024 });
      t.world.install(stranger, PORT, (env) => new Stranger(env));
      t.world.run(RUN_LIMIT_US);
      for (const client of clientsOf(t)) {
        expectEveryChunkWrittenOnce(client, t);
        expect(client.counters.unknown).toBe(2);
        expect(client.counters.malformed).toBe(0);
      }
      expect(t.server().stats.unknown).toBe(2);
      expect(t.server().stats.malformed).toBe(0);
    });

    it("are logged, as the original does, but at most once per interval by each machine", () => {
      const t = imaging({ clients: 2, chunks: 10 });
      const stranger = t.world.addHost("stranger", { bandwidthBps: 100e6, latencyUs: 50, queueBytesMax: 512 * 1024 });
      t.world.install(stranger, PORT, (env) => new Stranger(env, 50));
      t.world.run(RUN_LIMIT_US);
      const logged = t.world.events.filter((e) => e.kind === "frisbee.unknown-message");
      // 3 machines hear 100 unknown messages each within 0.5 s: one line each, not 300.
      expect(t.server().stats.unknown).toBe(100);
      expect(logged).toHaveLength(3);
      expect(logged.map((e) => e.fields["what"])).toEqual(expect.arrayContaining([expect.stringMatching(/type|subtype/)]));
      expect(logged.every((e) => e.fields["notLoggedBefore"] === 0)).toBe(true);
    });

    it("say on the next line how many went unlogged since the last", () => {
      const t = imaging({ clients: 1, chunks: 40 });
      const stranger = t.world.addHost("stranger", { bandwidthBps: 100e6, latencyUs: 50, queueBytesMax: 512 * 1024 });
      t.world.install(stranger, PORT, (env) => new Stranger(env, 3, UNKNOWN_LOG_INTERVAL_US + 1));
      t.world.run(RUN_LIMIT_US);
      const server = t.world.events.filter((e) => e.kind === "frisbee.unknown-message" && e.host === "server");
      // Each round brings two unknown messages: the first of a round is logged, saying the other of the round before went unlogged.
      expect(server.map((e) => e.fields["notLoggedBefore"])).toEqual([0, 1, 1]);
    });
  });

  describe("disk failure", () => {
    it("fails the client at the chunk whose write hits a bad range, writing no later chunk", () => {
      const rawChunkBytes = 3 * MIB;
      const t = imaging({
        clients: 1,
        chunks: 8,
        rawChunkBytes,
        badRanges: [{ offset: 3 * rawChunkBytes + 4096, length: 512 }],
        client: { randomize: false },
      });
      t.world.run(RUN_LIMIT_US);
      const client = t.client(0);
      expect(client.state).toBe("failed");
      expect(client.failure).toMatch(/chunk 3\b/);
      expect([...client.chunkWrites()]).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
      expect(t.clientHosts[0]?.disk?.stats.writes).toBe(4);
      expect(t.clientHosts[0]?.disk?.stats.writeErrors).toBe(1);
      expect(t.world.events.some((e) => e.kind === "frisbee.failed" && String(e.fields["error"]).includes("chunk 3"))).toBe(true);
    });
  });
});

/** A host that, half a second in, multicasts a datagram of an unknown subtype and a foreign object. */
/** Sends an unknown message type as bytes and an unknown object, `rounds` times, `everyUs` apart, from 0.5 s. */
class Stranger implements Process {
  private left: number;

  constructor(
    private readonly env: Env,
    rounds = 1,
    private readonly everyUs = 1_000,
  ) {
    this.left = rounds;
  }

  start(): void {
    this.env.timers.set(1, 500_000);
  }

  timer(): void {
    if (--this.left > 0) this.env.timers.set(1, this.env.now() + this.everyUs);
    const bytes = new Uint8Array(16 + 40);
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.env.rng.int(256);
    const view = new DataView(bytes.buffer);
    view.setInt32(0, PKT_TYPE_REQUEST, true);
    view.setInt32(4, 9, true);
    view.setInt32(8, 40, true);
    this.env.net.send(GROUP, PORT, bytes);
    this.env.net.send(GROUP, PORT, { type: "traffic", wireBytes: 10 });
  }
}
