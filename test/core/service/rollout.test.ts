import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import {
  N_DONE,
  N_RB_DONE,
  Rollout,
  defaultRolloutConfig,
  type RolloutConfig,
  type RolloutPort,
  type RolloutState,
} from "../../../core/service/index.js";

const SEC = 1_000_000;

interface World {
  /** Nodes on which the new version fails its health check. */
  bad: ReadonlySet<number>;
  /** Nodes that never answer (unreachable). */
  silent: ReadonlySet<number>;
  latencyUs: (node: number, op: number) => number;
}

/**
 * A tiny world for the rollout: every operation answers after a latency, applies of the new version
 * fail on bad nodes, silent nodes never answer. It tracks, independently of the machine, which nodes
 * are stopped or broken by the rollout and which version each holds.
 */
function runRollout(config: RolloutConfig, world: World, limitUs = 3_600 * SEC) {
  const pending: { at: number; node: number; op: number; kind: "stage" | "apply"; toNew: boolean; ok: boolean }[] = [];
  const version = new Array<number>(config.targets).fill(0);
  const broken = new Set<number>();
  const stopped = new Set<number>();
  const states: [RolloutState, string][] = [];
  // A node carries out its operations in order, as an agent serves one connection's requests.
  const busyUntil = new Array<number>(config.targets).fill(0);
  const finish = (now: number, node: number, op: number): number => {
    busyUntil[node] = Math.max(busyUntil[node] as number, now + world.latencyUs(node, op));
    return busyUntil[node] as number;
  };
  let maxDown = 0;
  const note = (): void => {
    maxDown = Math.max(maxDown, new Set([...broken, ...stopped]).size);
  };
  const port: RolloutPort = {
    stage: (now, node, op) => {
      if (!world.silent.has(node)) pending.push({ at: finish(now, node, op), node, op, kind: "stage", toNew: true, ok: true });
    },
    apply: (now, node, toNew, op) => {
      if (world.silent.has(node)) return;
      if (config.restart) stopped.add(node);
      note();
      pending.push({ at: finish(now, node, op), node, op, kind: "apply", toNew, ok: !(toNew && world.bad.has(node)) });
    },
    stateChanged: (_now, state, reason) => states.push([state, reason]),
    batchStarted: () => {},
    batchSettled: () => {},
  };
  const r = new Rollout(config, port, createRng(7));
  r.start(0);
  let now = 0;
  while (!r.finished && now < limitUs) {
    pending.sort((a, b) => a.at - b.at || a.node - b.node);
    const next = pending[0];
    const wake = r.nextWakeUs();
    if (next !== undefined && next.at <= wake) {
      pending.shift();
      now = next.at;
      if (next.kind === "apply") {
        stopped.delete(next.node);
        version[next.node] = next.toNew ? 1 : 0;
        if (next.ok) broken.delete(next.node);
        else broken.add(next.node);
        r.applied(now, next.node, next.op, next.ok);
      } else r.staged(now, next.node, next.op, next.ok);
    } else if (wake !== Infinity) {
      now = wake;
      r.poll(now);
    } else break;
  }
  return { r, version, states, maxDown, broken };
}

const fast: World = { bad: new Set(), silent: new Set(), latencyUs: () => 12 * SEC };

describe("rollout", () => {
  it("updates every target in its batches, one node at a time by default", () => {
    const { r, version, states } = runRollout(defaultRolloutConfig(10, { batches: [1, 3] }), fast);
    expect(r.sizes).toEqual([1, 3, 3, 3]);
    expect(r.state).toBe("done");
    expect(version).toEqual(new Array(10).fill(1));
    expect(states.map(([s]) => s)).toEqual(["staging", "switching", "done"]);
  });

  it("aborts when a batch's failures exceed the share, and puts every changed node back", () => {
    const bad = new Set([3, 4]);
    const { r, version, states } = runRollout(defaultRolloutConfig(10, { batches: [2, 4], maxParallel: 4, maxUnavailable: 4, maxFailPct: 25, maxFailTotal: 10 }), { ...fast, bad });
    expect(r.state).toBe("rolled-back");
    expect(states.find(([s]) => s === "aborting")?.[1]).toMatch(/batch 2 of 3: 2 of 4 targets failed, more than 25%/);
    expect(version).toEqual(new Array(10).fill(0));
    for (let n = 0; n < 6; n++) expect(r.phaseOf(n)).toBe(N_RB_DONE);
  });

  it("judges each batch on its own: one failure per batch at 25% never trips it, the cumulative cap does", () => {
    const bad = new Set([0, 4, 8]);
    const config = defaultRolloutConfig(12, { batches: [4], maxParallel: 4, maxUnavailable: 4, maxFailPct: 25, maxFailTotal: 100 });
    expect(runRollout(config, { ...fast, bad }).r.state).toBe("done");
    const capped = runRollout({ ...config, maxFailTotal: 2 }, { ...fast, bad });
    expect(capped.r.state).toBe("rolled-back");
    expect(capped.states.find(([s]) => s === "aborting")?.[1]).toMatch(/3 failures in all, more than 2/);
  });

  it("treats an unanswered node as failed at the op timeout, and ignores its late answer", () => {
    const { r } = runRollout(defaultRolloutConfig(4, { batches: [4], maxParallel: 4, maxUnavailable: 4, maxFailPct: 50, maxFailTotal: 10, opTimeoutUs: 30 * SEC }), { ...fast, silent: new Set([2]) });
    expect(r.state).toBe("done");
    expect(r.reason).toMatch(/1 targets not updated/);
  });

  it("aborts at the progress deadline when nothing becomes healthy", () => {
    const slow: World = { ...fast, latencyUs: () => 50 * SEC };
    const { r, states } = runRollout(defaultRolloutConfig(3, { batches: [1], progressDeadlineUs: 40 * SEC, opTimeoutUs: 100 * SEC }), slow);
    expect(states.find(([s]) => s === "aborting")?.[1]).toMatch(/progress deadline/);
    expect(r.state).toBe("rolled-back");
  });

  it("counts nodes known to be down against maxUnavailable", () => {
    const port: RolloutPort = { stage: () => {}, apply: () => {}, stateChanged: () => {}, batchStarted: () => {}, batchSettled: () => {} };
    const r = new Rollout(defaultRolloutConfig(10, { batches: [10], maxParallel: 10, maxUnavailable: 3, stageAttemptsMax: 1 }), port, createRng(1));
    r.setDown(0, true);
    r.setDown(1, true);
    expect(r.unavailableNow).toBe(2);
  });

  it("never holds more than maxUnavailable down, whatever fails and however long things take", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 23 }), { maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 23 }), { maxLength: 3 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (targets, parallel, maxUnavailable, bad, silent, failPct, seed) => {
          const rng = createRng(seed);
          const config = defaultRolloutConfig(targets, { batches: [1, "30%"], maxParallel: parallel, maxUnavailable, maxFailPct: failPct, maxFailTotal: 3, opTimeoutUs: 40 * SEC });
          const world: World = { bad: new Set(bad), silent: new Set(silent), latencyUs: () => 1 + rng.int(60 * SEC) };
          const { r, version, maxDown } = runRollout(config, world, 100 * 3_600 * SEC);
          expect(r.finished).toBe(true);
          expect(maxDown).toBeLessThanOrEqual(maxUnavailable);
          // Every node ends on one version, unless a rollback could not reach it.
          if (r.state === "rolled-back") expect(version.filter((v, n) => v !== 0 && !world.silent.has(n))).toEqual([]);
          // A node counted done holds the new version; any other may (a late answer) or may not.
          if (r.state === "done") for (let n = 0; n < targets; n++) if (r.phaseOf(n) === N_DONE) expect(version[n]).toBe(1);
        },
      ),
      { numRuns: 300 },
    );
  });
});
