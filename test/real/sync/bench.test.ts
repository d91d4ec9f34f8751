import { describe, expect, it } from "vitest";
import { runSyncBench } from "../../../real/sync/bench.js";

describe("bench sync counts only real releases", () => {
  for (const transport of ["tcp", "udp"] as const) {
    it(`over ${transport}: every waiter released with code 0, and the figures measured`, async () => {
      const r = await runSyncBench({ waiters: 40, transport, concurrency: 10, udpSockets: 4 });
      expect(r).toMatchObject({ waiters: 40, released: 40, failed: 0, outcomes: { "0": 40 } });
      expect(r.arrivalsPerSec).toBeGreaterThan(0);
      expect(r.releaseMs).toBeGreaterThanOrEqual(0);
    });

    it(`over ${transport}: waiters the server turned away count as failures, not releases`, async () => {
      const r = await runSyncBench({ waiters: 40, transport, concurrency: 10, udpSockets: 4, server: { daemon: { limits: { waitersPerBarrierMax: 25 } } } });
      expect(r).toMatchObject({ released: 25, failed: 15, outcomes: { "0": 25, "245": 15 } });
    });
  }
});
