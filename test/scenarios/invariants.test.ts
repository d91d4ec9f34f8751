import { afterEach, describe, expect, it } from "vitest";
import type { Payload } from "../../core/engine/index.js";
import { buildWorld, type BuiltWorld } from "../../scenarios/build.js";
import { checkInvariants, INVARIANT_NAMES, type InvariantResult } from "../../scenarios/invariants.js";
import { collectStats, runScenario } from "../../scenarios/runner.js";
import type { Scenario } from "../../scenarios/schema.js";
import type { LossModel } from "../../sim/loss.js";
import { once, parse, smallScenario, Tampering } from "./support.js";

const SEED = 11;
/** Host ids in smallScenario: 0 is the server, 1..4 are client0..client3; clients 0 and 1 are cut off. */
const CLIENT3 = 4;

/** The honest run, built by the first test that asks (see once); tests that change it undo it after. */
const honest = once(() => {
  const scenario = parse(smallScenario());
  const built = buildWorld(scenario, SEED);
  built.world.engine.run({ untilUs: scenario.durationUs });
  return { scenario, built };
});
/** Judged afresh in each test, as runScenario judges it. */
const invariants = () => checkInvariants(honest().scenario, honest().built);
const tampering = new Tampering();
afterEach(() => tampering.undo());

const verdicts = (results: InvariantResult[]) => ({ results, failing: results.filter((r) => !r.ok).map((r) => r.name) });

/** Builds the scenario, lets `breakWorld` tamper with it, runs it to the end, and checks it. */
function runBroken(scenario: Scenario, breakWorld: (built: BuiltWorld) => void) {
  const built = buildWorld(scenario, SEED);
  breakWorld(built);
  built.world.engine.run({ untilUs: scenario.durationUs });
  return verdicts(checkInvariants(scenario, built));
}

/** The honest run with its outcome changed by `change` (through `tampering`), checked. */
function afterHonestRun(change: (built: BuiltWorld) => void) {
  change(honest().built);
  return verdicts(invariants());
}

function detailOf(results: readonly { name: string; detail: string }[], name: string): string {
  return results.find((r) => r.name === name)?.detail ?? "(not checked)";
}

describe("invariants on an honest world", () => {
  // Frisbee's and sync's invariants apply only where a scenario runs them (see their own tests).
  const WORLD_INVARIANTS = INVARIANT_NAMES.filter((name) => !name.startsWith("frisbee-") && !name.startsWith("sync-"));

  it("checks every world invariant for a scenario with traffic and a partition", () => {
    expect(invariants().map((i) => i.name)).toEqual(WORLD_INVARIANTS);
  });

  it.each(WORLD_INVARIANTS)("holds %s", (name) => {
    expect(invariants().find((i) => i.name === name)).toEqual({ name, ok: true, detail: "held" });
  });

  it("carries enough traffic for the loss and partition checks to mean something", () => {
    const stats = collectStats(honest().built);
    expect(stats["partitionDrops"]).toBeGreaterThan(0);
    expect(stats["lostDownlink"]).toBeGreaterThan(0);
    expect(stats["sinkPackets"]).toBeGreaterThan(10_000);
  });

  it("leaves out the partition invariants when there is no partition", () => {
    const calm = parse({ ...smallScenario(), faults: [] });
    const names = runScenario(calm, { seed: SEED }).result.invariants.map((i) => i.name);
    expect(names).not.toContain("partition-respected");
    expect(names).not.toContain("delivery-after-heal");
    expect(names).toContain("packet-conservation");
  });

  it("checks only the invariants a scenario names", () => {
    const chosen = parse({ ...smallScenario(), invariants: ["queue-bounded", "partition-respected"] });
    const names = runScenario(chosen, { seed: SEED }).result.invariants.map((i) => i.name);
    expect(names).toEqual(["queue-bounded", "partition-respected"]);
  });
});

describe("invariants on a world broken on purpose", () => {
  const scenario = parse(smallScenario());

  it("fails partition-respected when the switch forwards across a partition", () => {
    const { failing, results } = runBroken(scenario, (built) => {
      built.world.network.blocked = () => false;
    });
    expect(failing).toEqual(["partition-respected"]);
    expect(detailOf(results, "partition-respected")).toMatch(/reached .* across a partition/);
  });

  it("fails delivery-after-heal when a partition never heals", () => {
    const { failing, results } = runBroken(scenario, (built) => {
      built.world.network.heal = () => undefined;
    });
    expect(failing).toEqual(["delivery-after-heal"]);
    expect(detailOf(results, "delivery-after-heal")).toMatch(/never reached .* after the heal/);
  });

  it("fails loss-within-bounds when a link loses 20% but claims 1%", () => {
    const { failing, results } = runBroken(scenario, (built) => {
      let packets = 0;
      const liar: LossModel = { meanLossRate: 0.01, lose: () => ++packets % 5 === 0 };
      built.world.network.downlinks[CLIENT3]!.loss = liar;
    });
    expect(failing).toEqual(["loss-within-bounds"]);
    expect(detailOf(results, "loss-within-bounds")).toMatch(/^client3\.down lost 20\.0\d\d% of \d+ packets, configured 1\.000%/);
  });

  it("fails no-duplicate-delivery (and the sink ledger) when a sink counts each packet twice", () => {
    const { failing, results } = runBroken(scenario, (built) => {
      const { sink } = built.sinks.find((s) => s.host === CLIENT3)!;
      const receive = sink.receive.bind(sink);
      sink.receive = (from: number, fromPort: number, payload: Payload) => {
        receive(from, fromPort, payload);
        receive(from, fromPort, payload);
      };
    });
    expect(failing).toEqual(["no-duplicate-delivery", "sinks-match-network"]);
    expect(detailOf(results, "no-duplicate-delivery")).toMatch(/^client3 got \d+ duplicates of flow \d+$/);
  });

  it("fails packet-conservation and sinks-match-network when the network claims a delivery that never happened", () => {
    const { failing, results } = afterHonestRun((built) => {
      const { stats } = built.world.network;
      tampering.set(stats, "delivered", stats.delivered + 1);
    });
    expect(failing).toEqual(["packet-conservation", "sinks-match-network"]);
    expect(detailOf(results, "packet-conservation")).toMatch(/^switch forwarded \d+ copies but downlinks account for \d+$/);
    expect(detailOf(results, "sinks-match-network")).toMatch(/^sinks counted (\d+) packets, the network delivered \d+$/);
  });

  it("fails packet-conservation when a link's own counters disagree with the network's", () => {
    const { failing, results } = afterHonestRun((built) => {
      const { stats } = built.world.network.downlinks[CLIENT3]!;
      tampering.set(stats, "lost", stats.lost + 1);
    });
    expect(failing).toEqual(["packet-conservation"]);
    expect(detailOf(results, "packet-conservation")).toMatch(/^downlink losses: links count \d+, network counts \d+$/);
  });

  it("fails sinks-match-network when a receiver got more of a flow than its source sent", () => {
    const { failing, results } = afterHonestRun((built) => {
      const server = built.sources.find((s) => s.host === 0)!;
      tampering.set(server.source.stats.sent, 0, 10);
    });
    expect(failing).toEqual(["sinks-match-network"]);
    expect(detailOf(results, "sinks-match-network")).toMatch(/^a receiver of flow 0 got \d+ packets, only 10 were sent$/);
  });

  it("fails queue-bounded when a link queued more than its limit", () => {
    const { failing, results } = afterHonestRun((built) => {
      const link = built.world.network.downlinks[CLIENT3]!;
      tampering.set(link, "spec", { ...link.spec, queueBytesMax: 100 });
    });
    expect(failing).toEqual(["queue-bounded"]);
    expect(detailOf(results, "queue-bounded")).toMatch(/^client3\.down queued \d+ bytes, limit 100$/);
  });
});

/** Counterexamples determinism.test's property found: the generated world's two traffic workloads, src <-> h*. */
const TWO_WAY_TRAFFIC = [
  { type: "traffic", from: "src", to: "group:1", members: "h*", rate: "100Kbit", packet: "1000", pattern: "constant" },
  { type: "traffic", from: "h*", to: "src", rate: "10Kbit", packet: "300", pattern: "poisson" },
];

/** Runs `world` to its end with `seed`; expects every invariant to hold and returns the world. */
function holdsToTheEnd(world: unknown, seed: number): BuiltWorld {
  const scenario = parse(world);
  const built = buildWorld(scenario, seed);
  built.world.engine.run({ untilUs: scenario.durationUs });
  expect(checkInvariants(scenario, built).filter((i) => !i.ok)).toEqual([]);
  return built;
}

describe("delivery-after-heal on a silent Poisson flow (a counterexample determinism.test's property found)", () => {
  // 14 hosts each sending 10 kbit/s of 300-byte packets to src at Poisson times (one every 240 ms on
  // average); h0-h6 cut off from src from 139 ms to 439 ms. With seed 2147483619, h6 (flow 7) sends
  // its last packet at 438,861 us and nothing in the 1.56 s after the heal: it owes no delivery.
  const world = {
    duration: "2s",
    hosts: [{ name: "src" }, { name: "h", count: 14, clockDriftPpm: 0 }],
    network: { headerBytes: 28, defaults: { bandwidth: "1Mbit", latency: "0us", queue: "5KiB" }, links: [] },
    workloads: TWO_WAY_TRAFFIC,
    faults: [{ type: "partition", at: "139ms", heal: "300ms", a: "h[0-6]", b: "src", oneWay: false }],
  };

  it("holds, and the flow it used to blame really sent nothing after the heal", () => {
    const built = holdsToTheEnd(world, 2_147_483_619);
    const h6 = built.sources.find((s) => s.flowBase <= 7 && 7 < s.flowBase + s.source.stats.sent.length)!;
    const times = h6.source.sentUs![7 - h6.flowBase]!;
    expect(times.length).toBe(h6.source.stats.sent[7 - h6.flowBase]);
    expect(Math.max(...times)).toBe(438_861);
  });
});

describe("delivery-after-heal on a Gilbert-Elliott link that stays bad (a second counterexample of determinism.test)", () => {
  // h0's downlink (1% loss in bursts of 10 packets on average) starts bad with seed 0 and loses
  // every one of the 21 packets it carries, the 15 src sends h0 after the heal among them.
  const world = {
    duration: "2s",
    hosts: [{ name: "src" }, { name: "h", count: 2, clockDriftPpm: 0 }],
    network: {
      headerBytes: 28,
      defaults: { bandwidth: "1Mbit", latency: "0us", queue: "2KiB" },
      links: [{ hosts: "h*", direction: "down", loss: { model: "gilbert-elliott", rate: 0.01, meanBurst: 10 } }],
    },
    workloads: TWO_WAY_TRAFFIC,
    faults: [{ type: "partition", at: "0ms", heal: "300ms", a: "h[0-0]", b: "src", oneWay: false }],
  };

  it("holds, and h0's downlink really lost everything", () => {
    const built = holdsToTheEnd(world, 0);
    const down = built.world.network.downlinks[1]!.stats;
    expect([down.packets, down.lost]).toEqual([21, 21]);
  });
});
