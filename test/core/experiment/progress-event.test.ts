import { describe, expect, it } from "vitest";
import { FRISBEEPROGRESS, frisbeeProgress } from "../../../core/experiment/progress-event.js";

const HEARTBEAT = { from: 3, TSTAMP: 1_700_000_000, SEQUENCE: 7, CHUNKS_RECV: 12, CHUNKS_DECOMP: 11, BYTES_WRITTEN: 3 * 2 ** 20 + 5, secondsLeft: 4.5 };

describe("frisbeeProgress: one heartbeat as both worlds store it", () => {
  it("keeps the original's keys, adds node, image and MBYTES_WRITTEN in whole MiB", () => {
    const p = frisbeeProgress(2, "FBSD-STD", HEARTBEAT);
    expect(FRISBEEPROGRESS).toBe("FRISBEEPROGRESS");
    expect(p.fields).toEqual({
      node: 2,
      image: "FBSD-STD",
      TSTAMP: 1_700_000_000,
      SEQUENCE: 7,
      CHUNKS_RECV: 12,
      CHUNKS_DECOMP: 11,
      BYTES_WRITTEN: 3 * 2 ** 20 + 5,
      MBYTES_WRITTEN: 3,
      secondsLeft: 4.5,
    });
    expect(p.bytesWritten).toBe(3 * 2 ** 20 + 5);
    expect(p.secondsLeft).toBe(4.5);
  });

  it("drops the transport's own fields (from) and rounds MiB down, not to nearest", () => {
    const p = frisbeeProgress(0, "i", { ...HEARTBEAT, BYTES_WRITTEN: 2 ** 20 - 1 });
    expect(p.fields).not.toHaveProperty("from");
    expect(p.fields.MBYTES_WRITTEN).toBe(0);
  });

  it("a negative estimate (the client cannot tell yet) is no time left for the machine, but stored as sent", () => {
    const p = frisbeeProgress(1, "i", { ...HEARTBEAT, secondsLeft: -1 });
    expect(p.secondsLeft).toBeNull();
    expect(p.fields.secondsLeft).toBe(-1);
    expect(frisbeeProgress(1, "i", { ...HEARTBEAT, secondsLeft: 0 }).secondsLeft).toBe(0);
  });
});
