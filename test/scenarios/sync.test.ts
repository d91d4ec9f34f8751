import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CODE_BROKEN, CODE_TIMEOUT } from "../../core/sync/index.js";
import { buildWorld } from "../../scenarios/build.js";
import { checkInvariants, INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { ScenarioError } from "../../scenarios/reader.js";
import { parseScenario } from "../../scenarios/schema.js";
import { deadlineKept, noEarlyRelease, releasedOnce } from "../../scenarios/sync/invariants.js";
import { once } from "./support.js";

const EXAMPLE = fileURLToPath(new URL("../../scenarios/sync/examples/boot-phase.json", import.meta.url));
const parse = (json: unknown) => parseScenario(typeof json === "string" ? json : JSON.stringify(json), "s.json", INVARIANT_NAMES);

function build(json: unknown, seed: number) {
  const scenario = parse(json);
  const built = buildWorld(scenario, seed);
  built.world.run(scenario.durationUs);
  return { scenario, built, sync: built.sync! };
}

/** Builds and runs the world, then checks it (call it inside a test: see once in ./support.ts). */
function run(json: unknown, seed: number) {
  const r = build(json, seed);
  return { ...r, invariants: checkInvariants(r.scenario, r.built) };
}

describe("a sync scenario at scale", () => {
  /** Built by the first test that asks (see once); the tests only read it. */
  const world = once(() => build(readFileSync(EXAMPLE, "utf8"), 7));

  it("holds every sync invariant with loss, crashes and a partition", () => {
    const invariants = checkInvariants(world().scenario, world().built);
    expect(invariants.filter((i) => !i.ok)).toEqual([]);
    expect(invariants.map((i) => i.name)).toEqual(expect.arrayContaining(["sync-no-early-release", "sync-released-once", "sync-deadline-kept"]));
  });

  it("times out the tolerant barrier whose crashed nodes never arrive, and breaks the intolerant one", () => {
    const r = world();
    const codes = (name: string) => new Set(r.sync.clients.filter((c) => c.barrier.name === name && c.client.outcome !== null).map((c) => c.client.outcome!.code));
    expect(codes("phase1")).toEqual(new Set([CODE_TIMEOUT]));
    expect(codes("phase2")).toEqual(new Set([CODE_BROKEN]));
  });
});

describe("the sync section of a scenario", () => {
  const base = {
    duration: "10s",
    hosts: [{ name: "s" }, { name: "m" }, { name: "n", count: 3 }],
    sync: { server: "s", barriers: [{ name: "b", initializer: "m", waiters: "n*" }] },
  };

  it("releases three waiters and the initializer with the highest error", () => {
    const r = run({ ...base, sync: { server: "s", barriers: [{ initializer: "m", waiters: "n*", errors: { n1: 9 } }] } }, 1);
    expect(r.invariants.every((i) => i.ok)).toBe(true);
    expect(r.sync.clients.map((c) => c.client.outcome?.code)).toEqual([9, 9, 9, 9]);
  });

  it("serves the original's plain UDP requests, sent once", () => {
    const r = run({ ...base, sync: { server: "s", barriers: [{ initializer: "m", waiters: "n*", extended: false, arrive: "uniform:1s" }] } }, 2);
    expect(r.invariants.every((i) => i.ok)).toBe(true);
    expect(r.sync.clients.map((c) => [c.client.outcome?.code, c.client.sends])).toEqual([[0, 1], [0, 1], [0, 1], [0, 1]]);
  });

  it("refuses bad declarations with the field's path", () => {
    const bad = (barrier: Record<string, unknown>, pattern: RegExp) => {
      const json = { ...base, sync: { server: "s", barriers: [{ name: "b", initializer: "m", waiters: "n*", ...barrier }] } };
      expect(() => parse(json)).toThrow(ScenarioError);
      expect(() => parse(json)).toThrow(pattern);
    };
    bad({ name: "x".repeat(64) }, /sync\.barriers\[0\]\.name: the name is 64 bytes/);
    bad({ initializer: "n*" }, /one initializer/);
    bad({ crash: "sometimes" }, /crash/);
    bad({ extended: false, deadline: "5s" }, /need the extensions/);
    bad({ errors: { n0: 240 } }, /errors/);
    bad({ count: -1 }, /count/);
  });
});

describe("the sync invariants catch what they promise to", () => {
  const json = {
    duration: "20s",
    hosts: [{ name: "s" }, { name: "m" }, { name: "n", count: 4 }],
    sync: { server: "s", barriers: [{ name: "b", initializer: "m", waiters: "n*", arrive: "uniform:2s", deadline: "10s" }] },
  };

  it("a release before the count was reached", () => {
    const r = run(json, 3);
    expect(noEarlyRelease(r.scenario, r.sync)).toBeNull();
    const release = r.sync.records.find((x) => x.kind === "release")!;
    const lastSend = Math.max(...r.sync.clients.map((c) => c.firstSendUs!));
    release.atUs = lastSend - 1;
    expect(noEarlyRelease(r.scenario, r.sync)).toMatch(/released at .* with 3 of 4 waiters arrived/);
    release.code = CODE_TIMEOUT;
    expect(noEarlyRelease(r.scenario, r.sync)).toMatch(/timed out at/);
  });

  it("a release after the deadline, and a client never released", () => {
    const r = run(json, 3);
    expect(deadlineKept(r.scenario, r.sync)).toBeNull();
    expect(releasedOnce(r.scenario, r.sync, () => true)).toBeNull();
    r.sync.records.find((x) => x.kind === "release")!.atUs += 10_000_000;
    expect(deadlineKept(r.scenario, r.sync)).toMatch(/after its deadline/);
    r.sync.clients[2]!.client.outcome = null;
    expect(releasedOnce(r.scenario, r.sync, () => true)).toMatch(/was never released/);
    r.sync.clients[1]!.client.conflicts = 1;
    expect(releasedOnce(r.scenario, r.sync, () => true)).toMatch(/another code/);
  });
});
