import { describe, expect, it } from "vitest";
import { serialisationUs } from "../../core/engine/time.js";
import { Link, LINK_LOST, LINK_QUEUE_DROP } from "../../sim/link.js";
import type { LossModel } from "../../sim/loss.js";

const MBIT = 1_000_000;

function link100(queueBytesMax = 64_000): Link {
  return new Link("test", { bandwidthBps: 100 * MBIT, latencyUs: 500, queueBytesMax });
}

describe("serialisationUs", () => {
  it("puts 1000 bytes on a 100 Mbit/s wire in 80 us (8000 bits / 100 bits per us)", () => {
    expect(serialisationUs(1_000, 100 * MBIT)).toBe(80);
  });

  it("rounds a fraction of a microsecond up", () => {
    // 1 byte at 100 Mbit/s is 0.08 us; 1500 bytes at 1 Gbit/s is exactly 12 us.
    expect(serialisationUs(1, 100 * MBIT)).toBe(1);
    expect(serialisationUs(1_500, 1_000 * MBIT)).toBe(12);
    expect(serialisationUs(1_501, 1_000 * MBIT)).toBe(13);
  });
});

describe("Link", () => {
  it("delivers a lone 1000-byte packet after its serialisation plus latency: 80 + 500 us", () => {
    expect(link100().transmit(1_000, 1_000)).toBe(1_000 + 80 + 500);
  });

  it("serialises packets offered together one after another", () => {
    const link = link100();
    const arrivals = [0, 1, 2].map(() => link.transmit(0, 1_000));
    expect(arrivals).toEqual([580, 660, 740]);
    expect(link.busyUntilUs).toBe(240);
  });

  it("sends a packet offered after the wire went idle without waiting", () => {
    const link = link100();
    link.transmit(0, 1_000);
    expect(link.transmit(5_000, 1_000)).toBe(5_000 + 80 + 500);
  });

  it("counts as backlog exactly the bytes not yet serialised", () => {
    const link = link100();
    link.transmit(0, 1_000);
    link.transmit(0, 1_000);
    expect(link.backlogBytes(0)).toBe(2_000);
    expect(link.backlogBytes(40)).toBe(1_500); // 40 us at 100 Mbit/s is 500 bytes
    expect(link.backlogBytes(160)).toBe(0);
    expect(link.backlogBytes(10_000)).toBe(0);
  });

  it("drops a packet that would overfill its queue, counts it, and keeps the wire's schedule", () => {
    const link = link100(3_000);
    expect([0, 1, 2].map(() => link.transmit(0, 1_000))).toEqual([580, 660, 740]);
    expect(link.transmit(0, 1_000)).toBe(LINK_QUEUE_DROP);
    expect(link.stats).toMatchObject({ packets: 3, bytes: 3_000, queueDrops: 1, queueBytesPeak: 3_000 });
    expect(link.busyUntilUs).toBe(240);
    // Once one packet has left (80 us later) there is room again.
    expect(link.transmit(80, 1_000)).toBe(240 + 80 + 500);
  });

  it("never lets the queue peak exceed queueBytesMax under a flood of mixed sizes", () => {
    const link = new Link("flood", { bandwidthBps: 10 * MBIT, latencyUs: 0, queueBytesMax: 10_000 });
    let drops = 0;
    for (let t = 0; t < 100_000; t += 37) {
      for (const bytes of [64, 1_500, 9_000, 300]) if (link.transmit(t, bytes) === LINK_QUEUE_DROP) drops++;
    }
    expect(drops).toBeGreaterThan(0);
    expect(link.stats.queueDrops).toBe(drops);
    expect(link.stats.queueBytesPeak).toBeLessThanOrEqual(10_000);
    expect(link.stats.queueBytesPeak).toBeGreaterThan(9_000);
  });

  it("reports a packet its loss model takes as lost, though it still occupied the wire", () => {
    const link = link100();
    const script = [false, true, false];
    const loss: LossModel = { meanLossRate: 1 / 3, lose: () => script.shift() ?? false };
    link.loss = loss;
    expect([0, 1, 2].map(() => link.transmit(0, 1_000))).toEqual([580, LINK_LOST, 740]);
    expect(link.stats).toMatchObject({ packets: 3, lost: 1 });
  });
});
