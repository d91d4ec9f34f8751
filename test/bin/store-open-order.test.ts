import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";

/**
 * Issue 19: a long command that stores its run installs its interrupt handler before it opens the
 * store, so a SIGINT or SIGTERM while the store opens finds the handler (which closes the store:
 * no -wal/-shm left beside it) rather than SQLite half-open and the signal's default action. The
 * window is a few milliseconds, too short to hit from outside reliably (the interrupt property test
 * tries plan frisbee at random moments); here the order itself is checked: when openStore is
 * called, is a handler in place, holding something to close? openStore then refuses, as for a
 * bad --db, so nothing runs.
 */
const seen = vi.hoisted(() => ({
  installed: 0,
  atOpen: [] as number[],
  closers: [] as ({ close(): void } | null)[][],
}));

vi.mock("../../bin/interrupt.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../bin/interrupt.js")>()),
  // The command's handler is recorded, not installed: a test worker keeps its own signal handling.
  exitCleanlyOnInterrupt: (_note: unknown, ...open: ({ close(): void } | null)[]) => {
    seen.installed++;
    seen.closers.push(open);
    return () => {
      seen.installed--;
    };
  },
}));

vi.mock("../../real/store/index.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../real/store/index.js")>();
  return {
    ...real,
    openStore: (path: string) => {
      seen.atOpen.push(seen.installed);
      throw new real.StoreError(path, "refused by the test");
    },
  };
});

const { planFrisbeeCommand } = await import("../../bin/plan-command.js");
const { planMonitorCommand } = await import("../../bin/monitor-command.js");
const { planServiceCommand } = await import("../../bin/service-plan-command.js");
const { simCommand } = await import("../../bin/sim-command.js");

const dir = mkdtempSync(join(tmpdir(), "testbed-store-order-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const db = join(dir, "t.db");

const frisbee = {
  clients: "1",
  imageMib: "1",
  dataMib: "3",
  clientMbps: "100",
  serverMbps: "72",
  diskMibs: "60",
  inflateMibs: "120",
  loss: "0",
  lossAt: "receivers",
  start: "simultaneous",
  model: "auto",
  heartbeat: "10",
  seed: "1",
  runs: "1",
  svg: join(dir, "p.svg"),
  db,
  store: true,
};
const monitor = { nodes: "10", days: "1", window: "4", flakyPct: "2", testSecs: "20:60", seed: "1", db, store: true };

beforeEach(() => {
  seen.installed = 0;
  seen.atOpen.length = 0;
  seen.closers.length = 0;
});

/** Runs the command (its store refuses), then: a handler was in place at the open, and it holds a closer. */
async function expectHandlerFirst(run: () => Promise<number>): Promise<void> {
  await expect(run()).rejects.toThrow(/refused by the test/);
  expect(seen.atOpen).toEqual([1]);
  expect(seen.closers.flat().filter((c) => c !== null).length).toBeGreaterThan(0);
}

describe("the interrupt handler is in place before the store opens", () => {
  it("plan frisbee, here and with --queue", async () => {
    await expectHandlerFirst(() => planFrisbeeCommand(frisbee));
    seen.atOpen.length = 0;
    seen.installed = 0;
    await expectHandlerFirst(() => planFrisbeeCommand({ ...frisbee, queue: "redis://127.0.0.1:1" }));
  });

  it("plan monitor, here and with --queue", async () => {
    await expectHandlerFirst(() => planMonitorCommand(monitor));
    seen.atOpen.length = 0;
    seen.installed = 0;
    await expectHandlerFirst(() => planMonitorCommand({ ...monitor, queue: "redis://127.0.0.1:1" }));
  });

  it("plan service", async () => {
    await expectHandlerFirst(() =>
      planServiceCommand({ nodes: "10", days: "1", seed: "1", maxUnavailablePct: "10", maxFailPct: "5", parallel: "4", batchPct: "10", svg: join(dir, "s.svg"), db, store: true }),
    );
  });

  it("sim", async () => {
    const scenario = join(dir, "s.json");
    writeFileSync(scenario, JSON.stringify({ seed: 1, duration: "1s", hosts: [{ name: "a" }, { name: "b" }] }));
    await expectHandlerFirst(() => simCommand(scenario, { json: true, checkDeterminism: false, db, store: true }));
  });
});
