import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { serialisationUs } from "../../core/engine/time.js";
import { Link, LINK_LOST, LINK_QUEUE_DROP, LinkTable, type LinkSpec, type LinkStats } from "../../sim/link.js";
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

/** The link as first written: every packet's backlog computed with its division. */
class ReferenceLink {
  busyUntilUs = 0;
  readonly stats: LinkStats = { packets: 0, bytes: 0, lost: 0, queueDrops: 0, queueBytesPeak: 0 };

  constructor(readonly spec: LinkSpec) {}

  transmit(nowUs: number, bytes: number): number {
    const backlog = this.busyUntilUs <= nowUs ? 0 : ((this.busyUntilUs - nowUs) * this.spec.bandwidthBps) / 8_000_000;
    if (backlog + bytes > this.spec.queueBytesMax) {
      this.stats.queueDrops++;
      return LINK_QUEUE_DROP;
    }
    if (backlog + bytes > this.stats.queueBytesPeak) this.stats.queueBytesPeak = backlog + bytes;
    this.busyUntilUs = Math.max(this.busyUntilUs, nowUs) + serialisationUs(bytes, this.spec.bandwidthBps);
    this.stats.packets++;
    this.stats.bytes += bytes;
    return this.busyUntilUs + this.spec.latencyUs;
  }
}

describe("LinkTable", () => {
  it("gives exactly the reference link's arrivals, drops and peaks, though it skips the division when it can", () => {
    const spec = fc.record({
      bandwidthBps: fc.oneof(fc.integer({ min: 1_000, max: 10_000_000_000 }), fc.double({ min: 1_000, max: 1e10, noNaN: true })),
      latencyUs: fc.integer({ min: 0, max: 10_000 }),
      queueBytesMax: fc.integer({ min: 64, max: 4_000_000 }),
    });
    // Mostly one size, as a fan-out offers: the division is skipped only for the last size seen.
    const bytes = fc.oneof({ weight: 4, arbitrary: fc.constant(1_052) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 70_000 }) });
    const offer = fc.record({ gapUs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000 })), bytes });
    fc.assert(
      fc.property(spec, fc.array(offer, { maxLength: 300 }), (s, offers) => {
        const table = new LinkTable();
        const row = table.add(s);
        const reference = new ReferenceLink(s);
        let nowUs = 0;
        for (const { gapUs, bytes } of offers) {
          nowUs += gapUs;
          expect(table.transmit(row, nowUs, bytes)).toBe(reference.transmit(nowUs, bytes));
        }
        expect(table.stats(row)).toEqual(reference.stats);
        expect(table.busyUntilUs(row)).toBe(reference.busyUntilUs);
      }),
    );
  });

  it("records a new peak one byte above the old one, though the check that skips the division is close", () => {
    // 8 Mbit/s is a byte per microsecond: 51 packets at 0 s leave a 51,000-byte peak, and 999 us
    // later the backlog is 50,001 bytes, so one more packet peaks at 51,001.
    const link = new Link("edge", { bandwidthBps: 8 * MBIT, latencyUs: 0, queueBytesMax: 100_000 });
    for (let i = 0; i < 51; i++) link.transmit(0, 1_000);
    expect(link.stats.queueBytesPeak).toBe(51_000);
    link.transmit(999, 1_000);
    expect(link.stats.queueBytesPeak).toBe(51_001);
  });

  it("keeps the rows of many links apart", () => {
    const table = new LinkTable();
    const links = Array.from({ length: 20 }, (_, i) => new Link(`l${i}`, { bandwidthBps: (i + 1) * MBIT, latencyUs: i, queueBytesMax: 100_000 }, table));
    links.forEach((link, i) => link.transmit(0, 1_000 * (i + 1)));
    links.forEach((link, i) => {
      expect(link.stats).toMatchObject({ packets: 1, bytes: 1_000 * (i + 1) });
      expect(link.busyUntilUs).toBe(serialisationUs(1_000 * (i + 1), (i + 1) * MBIT));
    });
  });

  it("changes a link only through a new spec: the one it hands out is a frozen copy", () => {
    const link = link100();
    expect(() => {
      (link.spec as LinkSpec).queueBytesMax = 1;
    }).toThrow(TypeError);
    link.spec = { ...link.spec, bandwidthBps: 10 * MBIT };
    expect(link.transmit(0, 1_000)).toBe(800 + 500);
  });
});
