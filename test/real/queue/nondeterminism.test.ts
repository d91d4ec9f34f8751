import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { JOB_FORMAT, keys } from "../../../real/queue/job.js";
import { buildVersion } from "../../../real/queue/version.js";
import { recordFingerprint } from "../../../real/queue/worker.js";
import { testbed } from "../frisbee/support.js";
import { redisSkipReason } from "../../support/redis.js";
import { useQueueRedis } from "./support.js";

/**
 * Nondeterminism end to end: a seed that ran twice with two fingerprints reaches the sweep's report
 * as NONDETERMINISTIC, with both fingerprints and both workers, and the sweep fails.
 */
const RACE = fileURLToPath(new URL("../../../scenarios/sweep/examples/idle-exit-race.json", import.meta.url));
const skip = redisSkipReason();
const dir = mkdtempSync(join(tmpdir(), "testbed-nondeterminism-"));
const PLANTED = "0123456789abcdef";

interface SweepJson {
  results: { seed: number; fingerprint: string }[];
  nondeterministic: { seed: number; fingerprints: string[]; workers: string[] }[];
  lost: unknown[];
}

describe.skipIf(skip !== null)(`nondeterminism through Redis${skip === null ? "" : ` (skipped: ${skip})`}`, () => {
  const redis = useQueueRedis(6, dir);

  it("reports a seed whose two runs gave two fingerprints, naming both workers, and fails the sweep", async () => {
    const sweep = testbed(["sweep", RACE, "--seeds", "1..6", "--json", "--no-store", "--no-shrink", "--queue", redis.url], dir, 300_000);
    // No worker yet: plant an earlier run of seed 3, by another worker, with another fingerprint.
    let run: string | undefined;
    while (run === undefined) {
      if (sweep.child.exitCode !== null) throw new Error(`the sweep exited: ${sweep.stderr()}`);
      [run] = await redis.client.smembers(keys.runs);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await recordFingerprint(redis.client, { format: JOB_FORMAT, version: buildVersion().id, run, key: "3", kind: "sweep-seed", payload: null }, PLANTED, "planted");
    const worker = testbed(["worker", "--queue", redis.url, "--concurrency", "1"], dir, 300_000);
    expect(await sweep.exited).toBe(1);
    const out = JSON.parse(sweep.stdout()) as SweepJson;
    expect(out.results).toHaveLength(6);
    expect(out.lost).toEqual([]);
    const real = out.results.find((r) => r.seed === 3)!.fingerprint;
    expect(real).not.toBe(PLANTED);
    expect(out.nondeterministic).toEqual([{ seed: 3, fingerprints: [PLANTED, real], workers: [expect.stringMatching(/\/planted$/), expect.stringMatching(/\/[0-9a-f-]{36}$/)] }]);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(worker.stdout()).toContain("stopped: 6 jobs done, 0 refused, 1 nondeterministic");
  });
});
