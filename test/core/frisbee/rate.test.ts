import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOCK_WIRE_BITS, pacedBlocksPerSec, pacingForBandwidth } from "../../../core/frisbee/rate.js";

const MBIT = 1_000_000;

describe("pacingForBandwidth", () => {
  it("counts a block packet as 1114 bytes on the wire: header, block, IP/UDP and Ethernet framing", () => {
    expect(BLOCK_WIRE_BITS).toBe((16 + 8 + 1024 + 28 + 38) * 8);
  });

  it("sends 1 packet every 3000 us at 4 Mbit/s, the 333 blocks/s the original frisbeed printed", () => {
    const pacing = pacingForBandwidth(4 * MBIT);
    expect(pacing).toEqual({ burstPackets: 1, burstGapUs: 3_000 });
    expect(Math.floor(pacedBlocksPerSec(pacing))).toBe(333);
  });

  it("sends 16 packets every 2000 us at 72 Mbit/s, Emulab's rate for standard images", () => {
    const pacing = pacingForBandwidth(72 * MBIT);
    expect(pacing).toEqual({ burstPackets: 16, burstGapUs: 2_000 });
    expect(pacedBlocksPerSec(pacing)).toBe(8_000);
  });

  it("fits more packets in the default gap as bandwidth grows", () => {
    expect(pacingForBandwidth(1_000 * MBIT)).toEqual({ burstPackets: 224, burstGapUs: 2_000 });
  });

  it("stretches the gap to whole milliseconds below one packet per default gap", () => {
    expect(pacingForBandwidth(1 * MBIT)).toEqual({ burstPackets: 1, burstGapUs: 9_000 });
  });

  it("rejects a bandwidth that is zero, negative, not a number or infinite", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => pacingForBandwidth(bad)).toThrow(/bandwidth/);
    }
  });

  it("never paces above the bandwidth asked for, and above one packet per gap stays within one packet of it", () => {
    fc.assert(
      fc.property(fc.double({ min: 100_000, max: 10_000 * MBIT, noNaN: true }), (bandwidthBps) => {
        const pacing = pacingForBandwidth(bandwidthBps);
        expect(Number.isInteger(pacing.burstPackets) && pacing.burstPackets >= 1).toBe(true);
        expect(Number.isInteger(pacing.burstGapUs) && pacing.burstGapUs >= 1).toBe(true);
        const pacedBps = pacedBlocksPerSec(pacing) * BLOCK_WIRE_BITS;
        expect(pacedBps).toBeLessThanOrEqual(bandwidthBps * (1 + 1e-12));
        if (pacing.burstPackets > 1) {
          const onePacketMoreBps = ((pacing.burstPackets + 1) * 1e6 * BLOCK_WIRE_BITS) / pacing.burstGapUs;
          expect(onePacketMoreBps).toBeGreaterThan(bandwidthBps);
        }
      }),
      { numRuns: 300 },
    );
  });
});
