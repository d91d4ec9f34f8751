import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openExperimentStore } from "../../../real/store/index.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const dir = mkdtempSync(join(tmpdir(), "testbed-syncd-experiment-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function syncd(...args: string[]) {
  return runTestbed(["syncd", "-p", "0", "--host", "127.0.0.1", ...args], { cwd: dir, timeoutMs: 60_000 });
}

describe("testbed syncd --experiment: refusals before it serves", () => {
  it("needs --db: one line, exit 2, no store made", async () => {
    const r = await syncd("--experiment", "real-1");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("testbed: --experiment: needs --db\n");
    expect(r.stdout).toBe("");
  });

  it("refuses an experiment the store does not hold, in one line, and the store keeps what it had", async () => {
    const db = join(dir, "store.db");
    const store = openExperimentStore(db);
    try {
      store.createExperiment("real-1", [{ node: "node0", host: "127.0.9.1" }], "node0");
      const before = store.lastEventId();
      const r = await syncd("--db", "store.db", "--experiment", "ghost");
      expect(r.code).toBe(2);
      expect(r.stderr).toBe("testbed: --experiment: no experiment named ghost in store.db\n");
      expect(r.stdout).toBe("");
      expect(store.experimentHead("real-1")?.state).toBe("new");
      expect(store.lastEventId()).toBe(before);
    } finally {
      store.close();
    }
  });
});
