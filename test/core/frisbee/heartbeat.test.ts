import { describe, expect, it } from "vitest";
import { nextSeq, PROGRESS_CLIENTS_MAX, ProgressTracker, SEQ_MODULUS } from "../../../core/frisbee/heartbeat.js";
import type { ProgressSummary } from "../../../core/frisbee/messages.js";

const MB = 1_000_000;

function written(bytesWritten: number): ProgressSummary {
  return { chunksReceived: 0, chunksDecompressed: 0, bytesWritten };
}

/** Reports `seqs` from one client, a second apart, and returns the gap each was seen to follow. */
function gaps(tracker: ProgressTracker, seqs: number[], clientId = 1): number[] {
  return seqs.map((seq, i) => tracker.report(clientId, seq, written(0), i * 1_000_000).gap);
}

describe("report sequence numbers", () => {
  it("count up by one and wrap from 65535 to 0", () => {
    expect(SEQ_MODULUS).toBe(65_536);
    expect(nextSeq(0)).toBe(1);
    expect(nextSeq(41)).toBe(42);
    expect(nextSeq(65_535)).toBe(0);
  });
});

describe("ProgressTracker", () => {
  it("sees no gap in consecutive reports", () => {
    const tracker = new ProgressTracker(100 * MB);
    expect(gaps(tracker, [1, 2, 3, 4])).toEqual([0, 0, 0, 0]);
    expect(tracker.lost).toBe(0);
    expect(tracker.reports).toBe(4);
    expect(tracker.client(1)?.reports).toBe(4);
  });

  it("counts the reports missing between two it received", () => {
    const tracker = new ProgressTracker(100 * MB);
    expect(gaps(tracker, [1, 2, 5, 6, 8])).toEqual([0, 0, 2, 0, 1]);
    expect(tracker.lost).toBe(3);
    expect(tracker.client(1)?.lost).toBe(3);
  });

  it("counts the reports before a client's first one as lost: a first report with seq 5 means 4 lost", () => {
    const tracker = new ProgressTracker(100 * MB);
    expect(gaps(tracker, [5])).toEqual([4]);
    expect(tracker.lost).toBe(4);
  });

  it("sees no gap where the sequence wraps: 65535, 0, 1", () => {
    const tracker = new ProgressTracker(100 * MB);
    tracker.report(1, 65_534, written(0), 0);
    const lostBefore = tracker.lost;
    expect(gaps(tracker, [65_535, 0, 1])).toEqual([0, 0, 0]);
    expect(tracker.lost).toBe(lostBefore);
  });

  it("counts reports lost across the wrap", () => {
    const tracker = new ProgressTracker(100 * MB);
    tracker.report(1, 65_534, written(0), 0);
    const lostBefore = tracker.lost;
    // 65535 and 0 are missing.
    expect(gaps(tracker, [1])).toEqual([2]);
    expect(tracker.lost - lostBefore).toBe(2);
  });

  it("does not count a late or repeated report as a gap, nor let it undo one", () => {
    const tracker = new ProgressTracker(100 * MB);
    expect(gaps(tracker, [1, 3, 2, 3, 4])).toEqual([0, 1, 0, 0, 0]);
    expect(tracker.lost).toBe(1);
    expect(tracker.client(1)?.outOfOrder).toBe(2);
    expect(tracker.client(1)?.lastSeq).toBe(4);
  });

  it("keeps each client's sequence apart", () => {
    const tracker = new ProgressTracker(100 * MB);
    expect(gaps(tracker, [1, 2], 1)).toEqual([0, 0]);
    expect(gaps(tracker, [1, 3], 2)).toEqual([0, 1]);
    expect(gaps(tracker, [3], 1)).toEqual([0]);
    expect(tracker.lost).toBe(1);
  });

  it("starts afresh for a client it was told to forget", () => {
    const tracker = new ProgressTracker(100 * MB);
    gaps(tracker, [1, 2, 3]);
    tracker.forget(1);
    expect(tracker.client(1)).toBeUndefined();
    expect(gaps(tracker, [1])).toEqual([0]);
  });

  it("tracks at most PROGRESS_CLIENTS_MAX clients; reports of more are counted, not tracked", () => {
    const tracker = new ProgressTracker(100 * MB);
    for (let id = 0; id < PROGRESS_CLIENTS_MAX; id++) tracker.report(id, 1, null, 0);
    expect(tracker.report(PROGRESS_CLIENTS_MAX, 5, null, 0)).toEqual({ gap: 0, secondsLeft: null });
    expect(tracker.untracked).toBe(1);
    expect(tracker.client(PROGRESS_CLIENTS_MAX)).toBeUndefined();
    expect(tracker.lost).toBe(0);
    expect(tracker.reports).toBe(PROGRESS_CLIENTS_MAX + 1);
    // One that leaves makes room.
    tracker.forget(0);
    expect(tracker.report(PROGRESS_CLIENTS_MAX, 5, null, 0).gap).toBe(4);
  });

  it("takes a first report with seq 0 (wrapped) as no loss", () => {
    const tracker = new ProgressTracker(100 * MB);
    expect(gaps(tracker, [0, 1])).toEqual([0, 0]);
    expect(tracker.lost).toBe(0);
  });

  it("sees a report more than half the sequence space back as late, not as a gap", () => {
    const tracker = new ProgressTracker(100 * MB);
    tracker.report(1, 40_000, null, 0);
    const lostBefore = tracker.lost;
    // 32,768 ahead is still a gap; 32,769 ahead is 32,767 back.
    expect(tracker.report(1, 40_000 + SEQ_MODULUS / 2 - SEQ_MODULUS, null, 1).gap).toBe(SEQ_MODULUS / 2 - 1);
    expect(tracker.lost - lostBefore).toBe(SEQ_MODULUS / 2 - 1);
    expect(tracker.report(1, 7_232 + SEQ_MODULUS / 2 + 1, null, 2).gap).toBe(0);
    expect(tracker.client(1)?.outOfOrder).toBe(1);
  });

  describe("time left", () => {
    it("is unknown for reports made at the same moment, and never below zero", () => {
      const tracker = new ProgressTracker(100 * MB);
      tracker.report(1, 1, written(10 * MB), 1_000_000);
      expect(tracker.report(1, 2, written(20 * MB), 1_000_000).secondsLeft).toBeNull();
      expect(tracker.report(1, 3, written(150 * MB), 2_000_000).secondsLeft).toBe(0);
    });

    it("is reported with a late report too, from what the client last said", () => {
      const tracker = new ProgressTracker(100 * MB);
      tracker.report(1, 1, written(0), 0);
      tracker.report(1, 3, written(50 * MB), 5_000_000);
      expect(tracker.report(1, 2, written(1 * MB), 6_000_000)).toEqual({ gap: 0, secondsLeft: 5 });
    });

    it("is unknown from a single report", () => {
      const tracker = new ProgressTracker(100 * MB);
      expect(tracker.report(1, 1, written(10 * MB), 5_000_000).secondsLeft).toBeNull();
    });

    it("is what is left to write at the rate bytes were written since the first report", () => {
      const tracker = new ProgressTracker(100 * MB);
      tracker.report(1, 1, written(20 * MB), 10_000_000);
      // 10 MB in 2 s is 5 MB/s; 70 MB are left: 14 s.
      expect(tracker.report(1, 2, written(30 * MB), 12_000_000).secondsLeft).toBeCloseTo(14, 9);
      // 40 MB in 4 s is 10 MB/s; 40 MB are left: 4 s.
      expect(tracker.report(1, 3, written(60 * MB), 14_000_000).secondsLeft).toBeCloseTo(4, 9);
    });

    it("is unknown while nothing more has been written, and zero once everything has", () => {
      const tracker = new ProgressTracker(100 * MB);
      tracker.report(1, 1, written(20 * MB), 0);
      expect(tracker.report(1, 2, written(20 * MB), 1_000_000).secondsLeft).toBeNull();
      expect(tracker.report(1, 3, written(100 * MB), 2_000_000).secondsLeft).toBe(0);
    });

    it("treats a report without a summary as nothing written", () => {
      const tracker = new ProgressTracker(100 * MB);
      tracker.report(1, 1, null, 0);
      expect(tracker.report(1, 2, written(50 * MB), 5_000_000).secondsLeft).toBeCloseTo(5, 9);
    });
  });
});
