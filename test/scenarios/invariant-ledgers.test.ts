import { describe, expect, it } from "vitest";
import { createRng, groupAddress } from "../../core/engine/index.js";
import type { BuiltWorld } from "../../scenarios/build.js";
import { checkInvariants } from "../../scenarios/invariants.js";
import type { LinkStats } from "../../sim/link.js";
import { GilbertElliottLoss, type LossModel } from "../../sim/loss.js";
import type { NetworkStats } from "../../sim/network.js";
import { parse, smallScenario, type Doc } from "./support.js";

/**
 * The world invariants against hand-built worlds: counters, links, sinks and arrival times set by
 * hand, so each check meets its exact edge (one packet either side of a bound, an arrival at the
 * first microsecond that counts) and each failure names what is wrong. A simulated run (see
 * invariants.test.ts) reaches these edges only by chance.
 */

interface FakeLink {
  name: string;
  spec: { queueBytesMax: number };
  loss: LossModel | null;
  stats: LinkStats;
}

const link = (name: string, stats: Partial<LinkStats> = {}, loss: LossModel | null = null): FakeLink => ({
  name,
  spec: { queueBytesMax: 100 },
  loss,
  stats: { packets: 0, bytes: 0, lost: 0, queueDrops: 0, queueBytesPeak: 0, ...stats },
});

interface Receipt {
  packets?: number;
  duplicates?: number;
  /** Sent and arrived times, in pairs. */
  arrivals?: number[];
}

const sink = (host: number, port: number, flows: Record<number, Receipt>, foreign = 0) => ({
  host,
  port,
  sink: {
    foreign,
    flows: new Map(Object.entries(flows).map(([id, r]) => [Number(id), { packets: 0, duplicates: 0, arrivals: [], ...r }])),
  },
});

interface FakeParts {
  hosts?: string[];
  stats?: Partial<NetworkStats>;
  uplinks?: FakeLink[];
  downlinks?: FakeLink[];
  flows?: { flow: number; workload: number; src: number; dst: number; port: number }[];
  /** sentUs: each target's send times (a source keeping them); full: that record stopped at its limit. */
  sources?: { flowBase: number; sent: number[]; sentUs?: number[][]; full?: boolean }[];
  sinks?: ReturnType<typeof sink>[];
  lossChanged?: FakeLink[];
}

const ZERO: NetworkStats = {
  sent: 0, switched: 0, copies: 0, delivered: 0, lostUplink: 0, queueDropsUplink: 0, lostDownlink: 0,
  queueDropsDownlink: 0, partitionDrops: 0, undeliverable: 0, noMembers: 0, inFlightUplink: 0, inFlightDownlink: 0, held: 0,
};

/** A finished world with only what the world invariants read. */
function fakeWorld(p: FakeParts): BuiltWorld {
  const hosts = (p.hosts ?? ["server", "client0", "client1", "client2", "client3"]).map((name) => ({ name, state: "up" }));
  const fake = {
    world: {
      hosts,
      network: {
        stats: { ...ZERO, ...p.stats },
        uplinks: p.uplinks ?? hosts.map((h) => link(`${h.name}.up`)),
        downlinks: p.downlinks ?? hosts.map((h) => link(`${h.name}.down`)),
      },
    },
    flows: p.flows ?? [],
    sources: (p.sources ?? []).map((s, i) => ({ host: 0, workload: i, flowBase: s.flowBase, source: { stats: { sent: s.sent }, sentUs: s.sentUs ?? null, sentUsFull: () => s.full === true } })),
    sinks: p.sinks ?? [],
    lossChanged: new Set(p.lossChanged ?? []),
    frisbee: null,
    sync: null,
  };
  return fake as unknown as BuiltWorld;
}

/** The one invariant `name` on `built`: "held", or its failure. */
function judge(name: string, built: BuiltWorld, doc: Doc = smallScenario()): string {
  const results = checkInvariants(parse({ ...doc, invariants: [name] }), built);
  expect(results.map((r) => r.name)).toEqual([name]);
  const [result] = results;
  expect(result!.ok).toBe(result!.detail === "held");
  return result!.detail;
}

describe("which invariants apply", () => {
  const names = (doc: Doc): string[] => checkInvariants(parse(doc), fakeWorld({})).map((r) => r.name);

  it("leaves out the traffic ledgers without traffic, and the partition checks with faults that are not partitions", () => {
    const crashOnly = { ...smallScenario(), workloads: [], faults: [{ type: "crash", at: "1s", hosts: "client0" }] };
    expect(names(crashOnly)).toEqual(["packet-conservation", "queue-bounded", "loss-within-bounds"]);
    expect(names({ ...smallScenario(), faults: [] })).toEqual([
      "packet-conservation", "queue-bounded", "no-duplicate-delivery", "sinks-match-network", "loss-within-bounds",
    ]);
  });

  it("holds Frisbee's and sync's invariants, when a scenario names them, in a world that runs neither", () => {
    const named = ["frisbee-clients-finish", "frisbee-image-exact", "frisbee-server-rate", "frisbee-control-bounded", "sync-no-early-release", "sync-released-once", "sync-deadline-kept"];
    const results = checkInvariants(parse({ ...smallScenario(), invariants: named }), fakeWorld({}));
    expect(results).toEqual(named.map((name) => ({ name, ok: true, detail: "held" })));
  });
});

describe("packet-conservation against hand-set ledgers", () => {
  /** Every counter different and above zero, so a sum that drops or flips one term is off. */
  const balanced = (): FakeParts => ({
    stats: {
      sent: 1015, lostUplink: 3, queueDropsUplink: 5, switched: 1000, inFlightUplink: 7,
      copies: 2112, partitionDrops: 11, lostDownlink: 13, queueDropsDownlink: 17, delivered: 2000, undeliverable: 19, inFlightDownlink: 23, held: 29,
      noMembers: 31,
    },
    uplinks: [link("up0", { lost: 1, queueDrops: 2, packets: 600 }), link("up1", { lost: 2, queueDrops: 3, packets: 410 })],
    downlinks: [link("down0", { lost: 6, queueDrops: 8 }), link("down1", { lost: 7, queueDrops: 9 })],
  });

  it("holds when the network's stages and the links' own counters agree", () => {
    expect(judge("packet-conservation", fakeWorld(balanced()))).toBe("held");
  });

  const upstream = ["lostUplink", "queueDropsUplink", "switched", "inFlightUplink"] as const;
  const downstream = ["partitionDrops", "lostDownlink", "queueDropsDownlink", "delivered", "undeliverable", "inFlightDownlink", "held"] as const;
  it.each([
    ...upstream.map((field) => [field, "sent 1015 but uplinks account for 1016"]),
    ["sent", "sent 1016 but uplinks account for 1015"],
    ...downstream.map((field) => [field, "switch forwarded 2112 copies but downlinks account for 2113"]),
    ["copies", "switch forwarded 2113 copies but downlinks account for 2112"],
  ])("fails with one more %s than the other stages account for", (field, detail) => {
    const stats = balanced().stats!;
    const key = field as keyof NetworkStats;
    stats[key] = (stats[key] ?? 0) + 1;
    const parts = { ...balanced(), stats };
    expect(judge("packet-conservation", fakeWorld(parts))).toBe(detail);
  });

  it.each([
    ["uplinks", "lost", "uplink losses: links count 4, network counts 3"],
    ["uplinks", "queueDrops", "uplink queue drops: links count 6, network counts 5"],
    ["downlinks", "lost", "downlink losses: links count 14, network counts 13"],
    ["downlinks", "queueDrops", "downlink queue drops: links count 18, network counts 17"],
    ["uplinks", "packets", "uplink packets: links count 1011, network counts 1010"],
  ] as const)("fails when the second of the %s counts one %s more than the network", (side, field, detail) => {
    const parts = balanced();
    parts[side]![1]!.stats[field] += 1;
    expect(judge("packet-conservation", fakeWorld(parts))).toBe(detail);
  });
});

describe("queue-bounded against hand-set peaks", () => {
  const links = (upPeak: number, downPeak: number): FakeParts => ({
    uplinks: [link("up0"), link("up1", { queueBytesPeak: upPeak })],
    downlinks: [link("down0", { queueBytesPeak: downPeak }), link("down1")],
  });

  it("holds with a queue exactly at its limit and fails one byte over it, on either side", () => {
    expect(judge("queue-bounded", fakeWorld(links(100, 100)))).toBe("held");
    expect(judge("queue-bounded", fakeWorld(links(101, 100)))).toBe("up1 queued 101 bytes, limit 100");
    expect(judge("queue-bounded", fakeWorld(links(100, 101)))).toBe("down0 queued 101 bytes, limit 100");
  });
});

describe("no-duplicate-delivery and sinks-match-network against hand-set sinks", () => {
  it("names the host and flow of the first duplicate", () => {
    const sinks = [sink(1, 7, { 3: { packets: 5 } }), sink(2, 7, { 3: { packets: 5 }, 4: { packets: 1, duplicates: 2 } })];
    expect(judge("no-duplicate-delivery", fakeWorld({ sinks: sinks.slice(0, 1) }))).toBe("held");
    expect(judge("no-duplicate-delivery", fakeWorld({ sinks }))).toBe("client1 got 2 duplicates of flow 4");
  });

  /** 48 packets at two sinks: foreign ones, duplicates, and flow 0 reaching both (10 and 8 of its 10). */
  const ledger = (over: { delivered?: number; sent0?: number; extra?: ReturnType<typeof sink> } = {}): BuiltWorld =>
    fakeWorld({
      stats: { delivered: over.delivered ?? 48 },
      sources: [{ flowBase: 0, sent: [over.sent0 ?? 10, 20] }, { flowBase: 2, sent: [5] }],
      sinks: [
        sink(1, 7, { 0: { packets: 10, duplicates: 2 } }, 3),
        sink(2, 7, { 0: { packets: 8, duplicates: 1 }, 1: { packets: 20 } }, 4),
        ...(over.extra === undefined ? [] : [over.extra]),
      ],
    });

  it("holds when the sinks count what the network delivered and no receiver got more than was sent", () => {
    expect(judge("sinks-match-network", ledger())).toBe("held");
  });

  it("fails when the network delivered one packet the sinks never counted", () => {
    expect(judge("sinks-match-network", ledger({ delivered: 49 }))).toBe("sinks counted 48 packets, the network delivered 49");
  });

  it("judges each flow by its best-served receiver", () => {
    // Flow 0's receivers got 10 and 8: with 9 sent, the first got too many.
    expect(judge("sinks-match-network", ledger({ sent0: 9 }))).toBe("a receiver of flow 0 got 10 packets, only 9 were sent");
  });

  it("counts a flow no source sent as sent zero times, and adds up each source's flows", () => {
    expect(judge("sinks-match-network", ledger({ delivered: 53, extra: sink(3, 7, { 2: { packets: 5 } }) }))).toBe("held");
    expect(judge("sinks-match-network", ledger({ delivered: 54, extra: sink(3, 7, { 2: { packets: 6 } }) }))).toBe(
      "a receiver of flow 2 got 6 packets, only 5 were sent",
    );
    expect(judge("sinks-match-network", ledger({ delivered: 49, extra: sink(3, 7, { 9: { packets: 1 } }) }))).toBe(
      "a receiver of flow 9 got 1 packets, only 0 were sent",
    );
  });
});

describe("loss-within-bounds against hand-set link counters", () => {
  const bernoulli = (p: number): LossModel => ({ meanLossRate: p, lose: () => false });
  const onLink = (packets: number, lost: number, model: LossModel | null, changed = false): string => {
    const down = link("client0.down", { packets, lost }, model);
    return judge("loss-within-bounds", fakeWorld({ uplinks: [link("server.up")], downlinks: [link("server.down"), down], lossChanged: changed ? [down] : [] }));
  };

  it("allows 5 standard deviations and one packet either side of a 1% rate, and no more", () => {
    // p = 0.01, n = 10000: sd = sqrt(0.01 * 0.99 / 10000) = 0.000995; bound = 5 sd + 1/n = 0.507%.
    expect(onLink(10_000, 150, bernoulli(0.01))).toBe("held");
    expect(onLink(10_000, 151, bernoulli(0.01))).toBe("client0.down lost 1.510% of 10000 packets, configured 1.000% (bound ±0.507%)");
    expect(onLink(10_000, 50, bernoulli(0.01))).toBe("held");
    expect(onLink(10_000, 49, bernoulli(0.01))).toBe("client0.down lost 0.490% of 10000 packets, configured 1.000% (bound ±0.507%)");
  });

  it("judges a link from 2000 packets on, and never one without a loss model or whose loss a fault changed", () => {
    expect(onLink(1_999, 1_999, bernoulli(0.01))).toBe("held");
    expect(onLink(2_000, 2_000, bernoulli(0.01))).toMatch(/^client0\.down lost 100\.000% of 2000 packets/);
    expect(onLink(10_000, 5_000, null)).toBe("held");
    expect(onLink(10_000, 5_000, bernoulli(0.01), true)).toBe("held");
  });

  const burst = (goodToBad: number, badToGood: number): GilbertElliottLoss =>
    new GilbertElliottLoss({ goodToBad, badToGood, lossGood: 0, lossBad: 0.5 }, createRng(1));

  it("widens the bound for bursty loss by (1 + rho) / (1 - rho), rho = 1 - goodToBad - badToGood", () => {
    // goodToBad 0.1, badToGood 0.4: 20% of the time bad, p = 0.1; rho = 0.5 triples the variance:
    // sd = sqrt(0.1 * 0.9 / 10000 * 3) = 0.005196; bound = 2.608%.
    expect(onLink(10_000, 1_260, burst(0.1, 0.4))).toBe("held");
    expect(onLink(10_000, 1_261, burst(0.1, 0.4))).toBe("client0.down lost 12.610% of 10000 packets, configured 10.000% (bound ±2.608%)");
  });

  it("takes rho as 0 when the states flip faster than at random, and at most 0.999", () => {
    // goodToBad 0.6, badToGood 0.8 give rho -0.4, taken as 0: p = 0.6 / 1.4 * 0.5 = 0.214286.
    expect(onLink(10_000, 1_937, burst(0.6, 0.8))).toBe("held");
    expect(onLink(10_000, 1_936, burst(0.6, 0.8))).toBe("client0.down lost 19.360% of 10000 packets, configured 21.429% (bound ±2.062%)");
    // goodToBad 0.0001, badToGood 0.0004 give rho 0.9995, taken as 0.999 (variance x 1999): p = 0.1.
    expect(onLink(1_000_000, 170_000, burst(0.0001, 0.0004))).toBe("client0.down lost 17.000% of 1000000 packets, configured 10.000% (bound ±6.707%)");
  });
});

describe("partition-respected and delivery-after-heal against hand-set arrivals", () => {
  /**
   * server (clock 5 ms ahead, drifting 10 ppm: 5101 us of slack over 10 s), client0 (2 ms, -20 ppm:
   * 2201 us) and client1; client0 cut off from the server from 1 s to 2 s.
   */
  const doc = (over: Doc = {}): Doc => ({
    name: "hand",
    duration: "10s",
    hosts: [{ name: "server", clockOffset: "5ms", clockDriftPpm: 10 }, { name: "client0", clockOffset: "2ms", clockDriftPpm: -20 }, { name: "client1" }],
    workloads: [{ type: "traffic", from: "server", to: "client0", rate: "1Mbit", packet: "500" }],
    faults: [{ type: "partition", at: "1s", heal: "1s", a: "client0", b: "server" }],
    ...over,
  });
  const PORT = 20_000;
  const flow = (src: number, dst: number) => ({ flow: 0, workload: 0, src, dst, port: PORT });
  /** Flow 0's source, having sent at 2.5 s and 5 s: after every heal below and before the run's last half second. */
  const sent = (sentUs: number[], full = false) => [{ flowBase: 0, sent: [sentUs.length], sentUs: [sentUs], full }];
  const owed = sent([2_500_000, 5_000_000]);
  /** Flow 0 from `src` to `dst`, received at `dst` with `arrivals`. */
  const world = (src: number, dst: number, arrivals: number[], parts: FakeParts = {}): BuiltWorld =>
    fakeWorld({ hosts: ["server", "client0", "client1"], flows: [flow(src, dst)], sinks: [sink(dst, PORT, { 0: { arrivals } })], sources: owed, ...parts });

  // Sent from the server: judged from 1 s + 5101 us; arrived at client0: until 2 s - 2201 us.
  const FROM = 1_005_101;
  const UNTIL = 1_997_799;

  it("fails a packet sent and arrived inside the partition, allowing for both clocks, and names it", () => {
    const outside = [FROM - 1, FROM + 10, FROM, UNTIL + 1];
    expect(judge("partition-respected", world(0, 1, outside), doc())).toBe("held");
    expect(judge("partition-respected", world(0, 1, [...outside, FROM, UNTIL]), doc())).toBe(
      `flow 0 from server reached client0 across a partition (sent ${FROM}us, arrived ${UNTIL}us)`,
    );
  });

  it("judges both directions unless the partition is one-way, and a partition that never heals to the end", () => {
    // client0 -> server: from 1 s + 2201 us until 2 s - 5101 us.
    const back = world(1, 0, [1_002_201, 1_994_899]);
    expect(judge("partition-respected", back, doc())).toBe("flow 0 from client0 reached server across a partition (sent 1002201us, arrived 1994899us)");
    const there = world(0, 1, [FROM, UNTIL]);
    const oneWay = (a: string, b: string) => doc({ faults: [{ type: "partition", at: "1s", heal: "1s", a, b, oneWay: true }] });
    // A one-way partition blocks only from a to b.
    expect(judge("partition-respected", back, oneWay("client0", "server"))).toMatch(/^flow 0 from client0 reached server/);
    expect(judge("partition-respected", there, oneWay("client0", "server"))).toBe("held");
    expect(judge("partition-respected", there, oneWay("server", "client0"))).toMatch(/^flow 0 from server reached client0/);
    expect(judge("partition-respected", back, oneWay("server", "client0"))).toBe("held");
    const forever = doc({ faults: [{ type: "partition", at: "1s", a: "client0", b: "server" }] });
    expect(judge("partition-respected", world(0, 1, [9_000_000, 9_997_799]), forever)).toMatch(/across a partition \(sent 9000000us, arrived 9997799us\)/);
    expect(judge("partition-respected", world(0, 1, [9_000_000, 9_997_799]), doc())).toBe("held");
  });

  it("leaves alone hosts outside the partition, other faults, and receipts of flows no workload declared", () => {
    expect(judge("partition-respected", world(0, 2, [FROM, UNTIL]), doc({ workloads: [{ type: "traffic", from: "server", to: "client1", rate: "1Mbit", packet: "500" }] }))).toBe("held");
    const crashToo = doc({ faults: [{ type: "crash", at: "1s", hosts: "client1" }, ...(doc().faults as Doc[])] });
    expect(judge("partition-respected", world(0, 1, [FROM, UNTIL]), crashToo)).toMatch(/across a partition/);
    const stray = fakeWorld({ hosts: ["server", "client0", "client1"], flows: [], sinks: [sink(1, PORT, { 5: { arrivals: [FROM, UNTIL] } })] });
    expect(judge("partition-respected", stray, doc())).toBe("held");
  });

  // Delivery after the heal at 2 s counts from 2 s + the sender's 5101 us of slack.
  const AFTER = 2_005_101;
  const NEVER = "flow 0 from server never reached client0 after the heal";

  it("wants a packet sent after the heal (not one only arriving after it) at the receiver's port", () => {
    expect(judge("delivery-after-heal", world(0, 1, [AFTER, AFTER + 50]), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [AFTER - 1, 3_000_000]), doc())).toBe(NEVER);
    const elsewhere = fakeWorld({
      hosts: ["server", "client0", "client1"],
      flows: [flow(0, 1)],
      sinks: [sink(1, PORT + 1, { 0: { arrivals: [AFTER, AFTER] } }), sink(2, PORT, { 0: { arrivals: [AFTER, AFTER] } }), sink(1, PORT, { 3: { arrivals: [AFTER, AFTER] } })],
      sources: owed,
    });
    expect(judge("delivery-after-heal", elsewhere, doc())).toBe(NEVER);
  });

  it("owes nothing to a flow that stops within a second of the heal, or to a crashed, paused or lossy host", () => {
    const silent = world(0, 1, []);
    const stop = (at: string) => doc({ workloads: [{ type: "traffic", from: "server", to: "client0", rate: "1Mbit", packet: "500", stop: at }] });
    expect(judge("delivery-after-heal", silent, stop("2999ms"))).toBe("held");
    expect(judge("delivery-after-heal", silent, stop("3s"))).toBe(NEVER);
    const also = (fault: Doc) => doc({ faults: [...(doc().faults as Doc[]), fault] });
    expect(judge("delivery-after-heal", silent, also({ type: "crash", at: "5s", hosts: "server" }))).toBe("held");
    expect(judge("delivery-after-heal", silent, also({ type: "pause", at: "5s", hosts: "client0", for: "1s" }))).toBe("held");
    expect(judge("delivery-after-heal", silent, also({ type: "loss", at: "5s", hosts: "client0", loss: 0.5 }))).toBe("held");
    expect(judge("delivery-after-heal", silent, also({ type: "crash", at: "5s", hosts: "client1" }))).toBe(NEVER);
  });

  it("owes nothing to a flow that sent nothing from the heal to the run's last half second (a Poisson source may be silent)", () => {
    // The run ends at 10 s: a packet sent after 9.5 s may still be queued then.
    expect(judge("delivery-after-heal", world(0, 1, [], { sources: sent([1_500_000, 9_500_001]) }), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [], { sources: sent([9_500_000]) }), doc())).toBe(NEVER);
    expect(judge("delivery-after-heal", world(0, 1, [], { sources: sent([AFTER - 1]) }), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [], { sources: sent([AFTER]) }), doc())).toBe(NEVER);
    // A record cut at its limit: later sends are unknown, so delivery is owed.
    expect(judge("delivery-after-heal", world(0, 1, [], { sources: sent([], true) }), doc())).toBe(NEVER);
    // Another flow's sends do not count for flow 0; a source without a record owes nothing.
    expect(judge("delivery-after-heal", world(0, 1, [], { sources: [{ flowBase: 1, sent: [1], sentUs: [[5_000_000]] }] }), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [], { sources: [{ flowBase: 0, sent: [1] }] }), doc())).toBe("held");
  });

  it("owes nothing where the path's links lost as many packets as the flow sent after the heal", () => {
    const lossy = (upLost: number, downLost: number): FakeParts => ({
      sources: sent([2_500_000, 3_000_000, 5_000_000]),
      uplinks: ["server", "client0", "client1"].map((name, h) => link(name, { lost: h === 0 ? upLost : 0 })),
      downlinks: ["server", "client0", "client1"].map((name, h) => link(name, { lost: h === 1 ? downLost : 0 })),
    });
    expect(judge("delivery-after-heal", world(0, 1, [], lossy(0, 3)), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [], lossy(1, 2)), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [], lossy(0, 2)), doc())).toBe(NEVER);
    expect(judge("delivery-after-heal", world(0, 1, [], lossy(2, 0)), doc())).toBe(NEVER);
    expect(judge("delivery-after-heal", world(0, 1, [AFTER, AFTER + 9], lossy(0, 2)), doc())).toBe("held");
    // A link that loses everything (rate 1) is a dead path, not chance: delivery is still owed.
    const dead = { meanLossRate: 1 } as unknown as LossModel;
    const deadDown: FakeParts = { ...lossy(0, 3), downlinks: ["server", "client0", "client1"].map((name, h) => link(name, { lost: h === 1 ? 3 : 0 }, h === 1 ? dead : null)) };
    expect(judge("delivery-after-heal", world(0, 1, [], deadDown), doc())).toBe(NEVER);
  });

  it("owes nothing where a queue on the path overflowed (the sender's uplink or the receiver's downlink)", () => {
    const drops = (side: "uplinks" | "downlinks", host: number): FakeParts => ({
      [side]: ["server", "client0", "client1"].map((name, h) => link(name, { queueDrops: h === host ? 1 : 0 })),
    });
    expect(judge("delivery-after-heal", world(0, 1, [], drops("uplinks", 0)), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [], drops("downlinks", 1)), doc())).toBe("held");
    expect(judge("delivery-after-heal", world(0, 1, [], drops("uplinks", 1)), doc())).toBe(NEVER);
    expect(judge("delivery-after-heal", world(0, 1, [], drops("downlinks", 0)), doc())).toBe(NEVER);
  });

  it("judges each member of a multicast group that the partition cut off, from the last heal", () => {
    const group = doc({ workloads: [{ type: "traffic", from: "server", to: "group:1", members: "*", rate: "1Mbit", packet: "500" }] });
    const multicast = (arrivals: number[]) =>
      fakeWorld({ hosts: ["server", "client0", "client1"], flows: [flow(0, groupAddress(1))], sinks: [sink(1, PORT, { 0: { arrivals } })], sources: owed });
    expect(judge("delivery-after-heal", multicast([AFTER, AFTER]), group)).toBe("held");
    expect(judge("delivery-after-heal", multicast([]), group)).toBe(NEVER);
    // A second partition (client1 from the server) heals at 3 s: delivery is owed from then on.
    const twoHeals = doc({
      workloads: (group as { workloads: Doc[] }).workloads,
      faults: [...(doc().faults as Doc[]), { type: "partition", at: "1s", heal: "2s", a: "client1", b: "server" }],
    });
    expect(judge("delivery-after-heal", multicast([AFTER, AFTER]), twoHeals)).toBe(NEVER);
    const late = fakeWorld({
      hosts: ["server", "client0", "client1"],
      flows: [flow(0, groupAddress(1))],
      sinks: [sink(1, PORT, { 0: { arrivals: [3_005_101, 3_005_200] } }), sink(2, PORT, { 0: { arrivals: [3_005_101, 3_005_200] } })],
      sources: owed,
    });
    expect(judge("delivery-after-heal", late, twoHeals)).toBe("held");
  });

  it("judges only partitions that heal, beside one that never does, and wants a sink at the receiver", () => {
    // client1 is cut off from the server for good: nothing is owed to it; client0's partition heals at 2 s.
    const group = doc({
      workloads: [{ type: "traffic", from: "server", to: "group:1", members: "*", rate: "1Mbit", packet: "500" }],
      faults: [...(doc().faults as Doc[]), { type: "partition", at: "1s", a: "client1", b: "server" }],
    });
    const multicast = (arrivals: number[]) =>
      fakeWorld({ hosts: ["server", "client0", "client1"], flows: [flow(0, groupAddress(1))], sinks: [sink(1, PORT, { 0: { arrivals } }), sink(2, PORT, { 0: { arrivals: [] } })], sources: owed });
    expect(judge("delivery-after-heal", multicast([AFTER, AFTER]), group)).toBe("held");
    expect(judge("delivery-after-heal", multicast([]), group)).toBe(NEVER);
    // No sink at all at the receiver's port: nothing reached it.
    expect(judge("delivery-after-heal", fakeWorld({ hosts: ["server", "client0", "client1"], flows: [flow(0, 1)], sinks: [], sources: owed }), doc())).toBe(NEVER);
  });
});
