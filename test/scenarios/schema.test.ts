import { describe, expect, it } from "vitest";
import { FILE, errorOf, errorOfText, parse, smallScenario, type Doc } from "./support.js";

const UNICAST = { type: "traffic", from: "server", to: "client1", rate: "1Mbit", packet: "100" };

function withLinks(...links: Doc[]): Doc {
  return { ...smallScenario(), network: { links } };
}

function withFaults(...faults: Doc[]): Doc {
  return { ...smallScenario(), faults };
}

function withWorkloads(...workloads: Doc[]): Doc {
  return { ...smallScenario(), workloads };
}

/** [what is wrong, the scenario, the exact message]. */
const REFUSED: [string, unknown, string][] = [
  [
    "a bandwidth that is not a rate",
    withLinks(...[0, 1, 2].map(() => ({ hosts: "client*" })), { hosts: "client*", bandwidth: "fast" }),
    `x.json: network.links[3].bandwidth: expected a rate like "100Mbit", got "fast"`,
  ],
  [
    "a misspelt field",
    withLinks({ hosts: "client*", bandwith: "10Mbit" }),
    `x.json: network.links[0].bandwith: unknown field (did you mean "bandwidth"?)`,
  ],
  [
    "an unknown field like no known one",
    { ...smallScenario(), colour: "blue" },
    "x.json: colour: unknown field (known fields: name, description, seed, duration, hosts, network, disks, cpus, workloads, faults, invariants, frisbee, sync)",
  ],
  [
    "a missing duration",
    { ...smallScenario(), duration: undefined },
    `x.json: duration: expected a duration like "30s", got nothing (the field is missing)`,
  ],
  ["a negative duration", { ...smallScenario(), duration: "-5ms" }, `x.json: duration: expected a duration like "30s", got "-5ms"`],
  ["a duration without a unit", { ...smallScenario(), duration: 5 }, `x.json: duration: expected a duration like "30s", got 5`],
  ["a zero duration", { ...smallScenario(), duration: "0s" }, `x.json: duration: a duration must be at least 1, got "0s"`],
  ["a duration beyond the limit", { ...smallScenario(), duration: "400d" }, `x.json: duration: a duration "400d" is too large`],
  [
    "a zero host count",
    { ...smallScenario(), hosts: [{ name: "server" }, { name: "client", count: 0 }] },
    "x.json: hosts[1].count: expected a number from 1 to 200000, got 0",
  ],
  [
    "a negative host count",
    { ...smallScenario(), hosts: [{ name: "server" }, { name: "client", count: -3 }] },
    "x.json: hosts[1].count: expected a number from 1 to 200000, got -3",
  ],
  [
    "a fractional host count",
    { ...smallScenario(), hosts: [{ name: "server" }, { name: "client", count: 2.5 }] },
    "x.json: hosts[1].count: expected a whole number, got 2.5",
  ],
  [
    "a loss rate above 1",
    withLinks({ hosts: "client*", loss: 1.5 }),
    "x.json: network.links[0].loss: expected a number from 0 to 1, got 1.5",
  ],
  [
    "a bursty loss with bursts shorter than one packet",
    withLinks({ hosts: "client*", loss: { model: "gilbert-elliott", rate: 0.1, meanBurst: 0.5 } }),
    "x.json: network.links[0].loss.meanBurst: expected a number from 1 to 1000000, got 0.5",
  ],
  [
    "a bursty loss that loses everything",
    withLinks({ hosts: "client*", loss: { model: "gilbert-elliott", rate: 1, meanBurst: 4 } }),
    "x.json: network.links[0].loss.rate: a bursty loss rate must be above 0 and below 1, got 1",
  ],
  [
    "a link direction that does not exist",
    withLinks({ hosts: "client*", direction: "sideways" }),
    `x.json: network.links[0].direction: expected one of "up", "down", "both", got "sideways"`,
  ],
  [
    "a queue too small for one packet's header",
    { ...smallScenario(), network: { headerBytes: 100, links: [{ hosts: "client*", queue: "64" }] } },
    "x.json: network.links[0].queue: queue of 64 bytes cannot hold one packet",
  ],
  [
    "a partition with a host on both sides",
    withFaults({ type: "partition", at: "1s", a: "client*", b: ["server", "client1"] }),
    `x.json: faults[0].b: host "client1" is on both sides`,
  ],
  [
    "a pause without a duration",
    withFaults({ type: "pause", at: "1s", hosts: "client1" }),
    "x.json: faults[0].for: a pause needs a duration",
  ],
  [
    "a fault after the scenario ends",
    withFaults({ type: "crash", at: "5s", hosts: "client1" }),
    `x.json: faults[0].at: a duration "5s" is too large`,
  ],
  [
    "a fault of an unknown kind",
    withFaults({ type: "meteor", at: "1s" }),
    `x.json: faults[0].type: expected one of "partition", "crash", "pause", "loss", got "meteor"`,
  ],
  [
    "an unknown invariant",
    { ...smallScenario(), invariants: ["packet-conservation", "no-dropped-packets"] },
    `x.json: invariants[1]: unknown invariant "no-dropped-packets" (known: packet-conservation, queue-bounded, no-duplicate-delivery, sinks-match-network, loss-within-bounds, partition-respected, delivery-after-heal, frisbee-clients-finish, frisbee-image-exact, frisbee-server-rate, frisbee-control-bounded, sync-no-early-release, sync-released-once, sync-deadline-kept)`,
  ],
  [
    "a multicast workload without members",
    withWorkloads({ ...UNICAST, to: "group:1" }),
    "x.json: workloads[0].members: a multicast workload needs the hosts that join the group",
  ],
  [
    "members on a unicast workload",
    withWorkloads({ ...UNICAST, members: "client*" }),
    `x.json: workloads[0].members: only a multicast workload ("to": "group:N") has members`,
  ],
  [
    "a workload that stops before it starts",
    withWorkloads({ ...UNICAST, start: "1s", stop: "500ms" }),
    "x.json: workloads[0].stop: stop comes before start",
  ],
  ["an empty hosts list", { ...smallScenario(), hosts: [] }, "x.json: hosts: expected at least one host"],
  [
    "a host name declared twice",
    { ...smallScenario(), hosts: [{ name: "server" }, { name: "server" }] },
    `x.json: hosts[1].name: host "server" is declared twice`,
  ],
  [
    "a host name that a count already made",
    { ...smallScenario(), hosts: [{ name: "client", count: 4 }, { name: "client2" }] },
    `x.json: hosts[1].name: host "client2" is declared twice`,
  ],
  [
    "a host name starting with a digit",
    { ...smallScenario(), hosts: [{ name: "9lives" }] },
    `x.json: hosts[0].name: "9lives" is not a host name (letters, digits, _ . -; starting with a letter)`,
  ],
  ["a list where the scenario belongs", [smallScenario()], "x.json: (top level): expected an object, got a list"],
];

describe("parseScenario", () => {
  it("reads a valid scenario into microseconds, bits per second and host ids", () => {
    const scenario = parse(smallScenario());
    expect(scenario.durationUs).toBe(2_000_000);
    expect(scenario.hosts.map((h) => h.name)).toEqual(["server", "client0", "client1", "client2", "client3"]);
    expect(scenario.network.defaults).toEqual({ bandwidthBps: 1e9, latencyUs: 100, queueBytesMax: 262_144 });
    expect(scenario.network.links).toEqual([
      { hosts: [1, 2, 3, 4], direction: "down", spec: { bandwidthBps: 1e8 }, loss: { model: "bernoulli", rate: 0.01 } },
    ]);
    expect(scenario.workloads[0]).toMatchObject({ from: [0], to: [], group: 1, members: [1, 2, 3, 4], rateBps: 2e7 });
    expect(scenario.faults).toEqual([{ type: "partition", atUs: 500_000, healUs: 1_000_000, a: [1, 2], b: [0], oneWay: false }]);
    expect(scenario.invariants).toBeNull();
  });

  it.each(REFUSED)("refuses %s with one exact line", (_what, doc, message) => {
    expect(errorOf(doc)).toBe(message);
  });

  it("names the file, then the field, then why, on one line, in every refusal above", () => {
    for (const [, doc] of REFUSED) {
      const message = errorOf(doc);
      expect(message).toMatch(new RegExp(`^${FILE.replace(".", "\\.")}: (\\(top level\\)|[^ ]+): \\S`));
      expect(message).not.toMatch(/[\r\n]/);
    }
  });

  it("refuses text that is not JSON, naming the file", () => {
    expect(errorOfText("{ nope")).toMatch(/^x\.json: not valid JSON \(.+\)$/);
  });

  it("keeps a JSON complaint on one line even when the text it quotes spans several", () => {
    const message = errorOfText('{"duration":\n\n  fast\n}');
    expect(message).toMatch(/^x\.json: not valid JSON \(/);
    expect(message).not.toMatch(/[\r\n]/);
  });

  it("keeps a complaint on one line when the unknown field's name has a line break in it", () => {
    const message = errorOf({ ...smallScenario(), "dura\ntion": "1s" });
    expect(message).toBe(`x.json: ["dura\\ntion"]: unknown field (did you mean "duration"?)`);
  });

  it("keeps a complaint on one line when the bad value has a line break in it", () => {
    const message = errorOf(withLinks({ hosts: "client*", direction: "up\ndown" }));
    expect(message).toBe(`x.json: network.links[0].direction: expected one of "up", "down", "both", got "up\\ndown"`);
  });

  it("keeps a complaint on one line when a host selector has a line break in it", () => {
    const message = errorOf(withWorkloads({ ...UNICAST, from: "client\n1" }));
    expect(message).toBe(
      `x.json: workloads[0].from: "client\\n1" is not a host selector (use a name, a glob like "client*" or a range like "client[0-9]")`,
    );
  });

  it("keeps a complaint on one line when a host name or invariant has a line break in it", () => {
    expect(errorOf({ ...smallScenario(), hosts: [{ name: "a\nb" }] })).not.toMatch(/[\r\n]/);
    expect(errorOf({ ...smallScenario(), invariants: ["queue-\nbounded"] })).not.toMatch(/[\r\n]/);
  });
});
