import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { swapChart } from "../../../core/chart/plans.js";
import { PORTAL_PLANS_MAX, storedPlans, swapHistoryChart, type HistorySwap } from "../../../real/portal/history.js";
import type { RunRow } from "../../../real/store/index.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";
import { portalWith, TOKEN, untilState, type Portal } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

let portal: Portal | undefined;
afterEach(async () => {
  await portal?.close();
  portal = undefined;
});

const planRun = (id: number, options: Record<string, unknown>, row: Record<string, unknown>): RunRow => ({
  id,
  kind: "plan-frisbee",
  scenario: "plan frisbee",
  seed: String(options.seed),
  fingerprint: "f",
  events: 1,
  simSeconds: 1,
  wallSeconds: 1,
  ok: true,
  results: { row, options, runs: 1 },
  createdAt: `2026-12-06T10:00:${String(id).padStart(2, "0")}.000Z`,
});

const swap = (id: number, kind: "swapin" | "swapout", world: string, nodes: number | null, ok: boolean, seconds: number): HistorySwap => ({ id, experiment: "e", kind, world, nodes, ok, seconds, wallSeconds: 1, createdAt: "2026-12-06T10:00:00.000Z" });

describe("the portal's run history", () => {
  it("rebuilds each stored plan from its runs: one plan per options but the seed, the newest answer per row, odd rows skipped", () => {
    const a = { clients: [1, 10], losses: [0], model: "chunk" };
    const b = { clients: [5], losses: [0.01], model: "packet" };
    const plans = storedPlans([
      planRun(9, { ...b, seed: 1 }, { clients: 5, loss: 0.01, runtimeSecMean: 7, runs: 1 }),
      planRun(8, { ...a, seed: 2 }, { clients: 10, loss: 0, runtimeSecMean: 4, runs: 2 }),
      planRun(7, { ...a, seed: 1 }, { clients: 10, loss: 0, runtimeSecMean: 4, runs: 2 }),
      planRun(6, { ...a, seed: 1 }, { clients: 1, loss: 0, runtimeSecMean: 3, runs: 2 }),
      planRun(5, { ...a, seed: 1 }, { clients: 1, loss: 0, runtimeSecMean: 99, runs: 2 }),
      planRun(4, { ...a, seed: 1 }, { clients: "many", loss: 0, runtimeSecMean: 1 }),
    ]);
    expect(plans).toEqual([
      { id: 9, createdAt: "2026-12-06T10:00:09.000Z", model: "packet", rows: [{ clients: 5, loss: 0.01, runtimeSecMean: 7, runs: 1 }] },
      { id: 8, createdAt: "2026-12-06T10:00:08.000Z", model: "chunk", rows: [{ clients: 1, loss: 0, runtimeSecMean: 3, runs: 2 }, { clients: 10, loss: 0, runtimeSecMean: 4, runs: 2 }] },
    ]);
    const many = Array.from({ length: PORTAL_PLANS_MAX + 3 }, (_, i) => planRun(100 - i, { ...a, imageMiB: i, seed: 1 }, { clients: 1, loss: 0, runtimeSecMean: 1 }));
    expect(storedPlans(many).map((p) => p.id)).toEqual(many.slice(0, PORTAL_PLANS_MAX).map((r) => r.id));
  });

  it("charts finished swaps only, one line per kind and world, with the planner's swap chart", () => {
    expect(swapHistoryChart([])).toBeUndefined();
    expect(swapHistoryChart([swap(1, "swapin", "sim", 10, false, 5), swap(2, "swapin", "sim", null, true, 5)])).toBeUndefined();
    const swaps = [swap(3, "swapin", "sim", 10, true, 50), swap(4, "swapout", "real", 4, true, 2), swap(5, "swapin", "sim", 100, false, 1)];
    expect(swapHistoryChart(swaps)).toBe(
      swapChart([
        { kind: "swapin", group: "sim", nodes: 10, seconds: 50 },
        { kind: "swapout", group: "real", nodes: 4, seconds: 2 },
      ]),
    );
  });

  it("serves every swap and a stored plan on the planners' charts: a plan's chart is the file `plan frisbee --svg` wrote, byte for byte", async () => {
    portal = await portalWith(["exp-a"], 20, null);
    const none = await fetch(new URL("/charts/swaps.svg", portal.url));
    expect(none.status).toBe(404);
    expect(await none.json()).toEqual({ error: "no finished swap to chart yet" });
    // A plan stored in the portal's store by the planner itself.
    const plan = await runTestbed(["plan", "frisbee", "--clients", "1,3", "--image-mib", "2", "--data-mib", "6", "--db", portal.db, "--svg", "plan.svg"], { cwd: portal.dir, timeoutMs: 120_000 });
    expect(plan.code, plan.stderr).toBe(0);
    const list = (await (await fetch(new URL("/api/experiments", portal.url))).json()) as { history: { swaps: unknown[]; plans: { id: number; rows: { clients: number }[] }[] } };
    expect(list.history.swaps).toEqual([]);
    expect(list.history.plans).toHaveLength(1);
    const [stored] = list.history.plans;
    expect(stored?.rows.map((r) => r.clients)).toEqual([1, 3]);
    const chart = await fetch(new URL(`/charts/plan.svg?id=${stored?.id}`, portal.url));
    expect(chart.status).toBe(200);
    expect(chart.headers.get("content-type")).toMatch(/^image\/svg\+xml/);
    expect(await chart.text()).toBe(readFileSync(join(portal.dir, "plan.svg"), "utf8"));
    for (const bad of ["/charts/plan.svg?id=999999", "/charts/plan.svg?id=x", "/charts/plan.svg"]) expect((await fetch(new URL(bad, portal.url))).status, bad).toBe(404);
    // A swap from the portal lands in the history and on the swap chart, for every experiment and for its own.
    expect((await fetch(new URL("/api/experiments/exp-a/swapin", portal.url), { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: "{}" })).status).toBe(202);
    expect(await untilState(portal, "exp-a", ["active", "failed"])).toBe("active");
    const after = (await (await fetch(new URL("/api/experiments", portal.url))).json()) as { history: { swaps: HistorySwap[] } };
    expect(after.history.swaps).toHaveLength(1);
    expect(after.history.swaps[0]).toMatchObject({ experiment: "exp-a", kind: "swapin", world: "sim", nodes: 20, ok: true });
    const seconds = after.history.swaps[0]?.seconds as number;
    expect(seconds).toBeGreaterThan(0);
    const want = swapChart([{ kind: "swapin", group: "sim", nodes: 20, seconds }]);
    for (const path of ["/charts/swaps.svg", "/charts/swaps.svg?experiment=exp-a"]) {
      const res = await fetch(new URL(path, portal.url));
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).toBe(want);
    }
    expect((await fetch(new URL("/charts/swaps.svg?experiment=nope", portal.url))).status).toBe(404);
    const one = (await (await fetch(new URL("/api/experiments/exp-a", portal.url))).json()) as { runs: { nodes: number }[] };
    expect(one.runs[0]?.nodes).toBe(20);
  });
});
