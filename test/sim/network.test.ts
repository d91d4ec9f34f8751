import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Engine } from "../../core/engine/engine.js";
import { groupAddress } from "../../core/engine/ports.js";
import { createRng } from "../../core/engine/rng.js";
import type { LinkSpec } from "../../sim/link.js";
import { burstParams, type LossSpec } from "../../sim/loss.js";
import { DELIVERED, Network, UNDELIVERABLE, type NetworkStats, type Packet } from "../../sim/network.js";
import { World } from "../../sim/world.js";
import { installRecorder, link100, MBIT, message, seqOf } from "./support.js";
import { breathe } from "../support/breathe.js";

interface Arrival {
  host: number;
  src: number;
  seq: number;
  atUs: number;
}

/** A network on its own engine; hosts listed in `refusing` turn every delivery away. */
function star(links: readonly LinkSpec[], refusing: readonly number[] = []) {
  const engine = new Engine();
  const arrivals: Arrival[] = [];
  const network = new Network(engine, createRng("net"), (host: number, packet: Packet) => {
    if (refusing.includes(host)) return UNDELIVERABLE;
    arrivals.push({ host, src: packet.src, seq: seqOf(packet.payload), atUs: engine.now });
    return DELIVERED;
  });
  for (const [i, spec] of links.entries()) network.addHost(`h${i}`, spec);
  return { engine, network, arrivals };
}

function hostsOf(arrivals: readonly Arrival[]): number[] {
  return arrivals.map((a) => a.host).sort((x, y) => x - y);
}

/** Every packet and every copy is in exactly one place. */
function expectConserved(stats: NetworkStats): void {
  expect(stats.sent).toBe(stats.lostUplink + stats.queueDropsUplink + stats.switched + stats.inFlightUplink);
  expect(stats.copies).toBe(
    stats.partitionDrops +
      stats.lostDownlink +
      stats.queueDropsDownlink +
      stats.delivered +
      stats.held +
      stats.undeliverable +
      stats.inFlightDownlink,
  );
}

describe("Network timing", () => {
  it("delivers one packet after ser(up) + lat(up) + ser(down) + lat(down)", () => {
    // 1000 bytes: 800 us at 10 Mbit/s up, then 100 us latency; 80 us at 100 Mbit/s down, then 50 us.
    const { engine, network, arrivals } = star([
      { bandwidthBps: 10 * MBIT, latencyUs: 100, queueBytesMax: 100_000 },
      link100(),
    ]);
    network.downlinks[1]!.spec = { bandwidthBps: 100 * MBIT, latencyUs: 50, queueBytesMax: 100_000 };
    network.send(0, 1, 1, 1, message(1_000));
    engine.run();
    expect(arrivals).toEqual([{ host: 1, src: 0, seq: 0, atUs: 800 + 100 + 80 + 50 }]);
  });

  it("adds the network's header bytes to every packet's serialisation", () => {
    // 972 + 28 = 1000 bytes: 80 us per hop at 100 Mbit/s, plus 500 us latency per hop.
    const { engine, network, arrivals } = star([link100(), link100()]);
    network.headerBytes = 28;
    network.send(0, 1, 1, 1, message(972));
    engine.run();
    expect(arrivals[0]?.atUs).toBe(80 + 500 + 80 + 500);
  });

  it("delivers a 1 MB transfer over 100 Mbit/s in 80 ms plus one packet's second hop and both latencies", () => {
    // 1000 packets x 1000 bytes at 100 Mbit/s: 80 us each, so the uplink is busy for 80,000 us and the
    // last packet reaches the switch at 80,000 + 500. Packets reach the switch every 80 us and the
    // downlink takes 80 us for each, so none waits there: the last leaves at 80,580 + 80 and lands
    // 500 us later, at 81,160. The first lands at 80 + 500 + 80 + 500 = 1,160.
    const world = new World("1mb");
    const sender = world.addHost("sender", link100({ queueBytesMax: 1_000_000 }));
    const receiver = world.addHost("receiver", link100({ queueBytesMax: 1_000_000 }));
    const got = installRecorder(world, receiver, 9);
    installRecorder(world, sender, 9, (env) => {
      for (let seq = 0; seq < 1_000; seq++) env.net.send(receiver.id, 9, message(1_000, seq));
    });
    world.run();
    const received = got.current().received;
    expect(received).toHaveLength(1_000);
    expect(received.map((r) => r.seq)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(received[0]?.atUs).toBe(1_160);
    expect(received[999]?.atUs).toBe(80_000 + 80 + 500 + 500);
    expect(world.network.stats.queueDropsUplink).toBe(0);
    expect(world.network.downlinks[receiver.id]!.stats.queueBytesPeak).toBe(1_000);
  });

  it("drops the 1001st packet of a burst when the uplink queue holds exactly 1,000,000 bytes", () => {
    const { engine, network, arrivals } = star([link100({ queueBytesMax: 1_000_000 }), link100()]);
    for (let seq = 0; seq < 1_001; seq++) network.send(0, 1, 1, 1, message(1_000, seq));
    engine.run();
    expect(arrivals).toHaveLength(1_000);
    expect(network.stats.queueDropsUplink).toBe(1);
    expect(network.uplinks[0]!.stats.queueBytesPeak).toBe(1_000_000);
  });
});

describe("Network multicast", () => {
  it("reaches every member exactly once and not the sender", () => {
    const { engine, network, arrivals } = star([link100(), link100(), link100(), link100(), link100()]);
    const group = groupAddress(3);
    for (const host of [0, 1, 2, 3]) network.join(group, host);
    network.join(group, 2); // joining twice changes nothing
    network.send(0, 1, group, 1, message(500));
    engine.run();
    expect(hostsOf(arrivals)).toEqual([1, 2, 3]);
    expect(network.stats).toMatchObject({ sent: 1, switched: 1, copies: 3, delivered: 3 });
  });

  it("carries a burst sent at one instant as one train: each receiver gets its copies together, in order, when the first arrives", () => {
    // 1000 bytes at 100 Mbit/s: 80 us per packet on each link, 500 us latency. The packets reach
    // the switch at 580, 660, 740, 820 us and a receiver at 1160, 1240, 1320, 1400 us one by one.
    const { engine, network, arrivals } = star([link100(), link100(), link100()]);
    const group = groupAddress(1);
    for (const host of [0, 1, 2]) network.join(group, host);
    for (let seq = 0; seq < 4; seq++) network.send(0, 1, group, 1, message(1_000, seq));
    network.setLoss(network.downlinks[2]!, { model: "bernoulli", rate: 1 });
    engine.run();
    expect(arrivals).toEqual([0, 1, 2, 3].map((seq) => ({ host: 1, src: 0, seq, atUs: 1160 })));
    // One event at the switch, one delivery; each copy still crossed its downlink and was lost on its own.
    expect(engine.executed).toBe(2);
    expect(network.downlinks[1]!.busyUntilUs).toBe(900);
    expect(network.stats).toMatchObject({ sent: 4, switched: 4, copies: 8, delivered: 4, lostDownlink: 4 });
    expectConserved(network.stats);
    // A packet of another instant starts a train of its own (a lone packet travels as before).
    network.send(0, 1, group, 1, message(1_000, 9));
    engine.run();
    expect(arrivals.at(-1)).toEqual({ host: 1, src: 0, seq: 9, atUs: 1160 + 80 + 500 + 80 + 500 });
  });

  it("gives nothing to a member that left", () => {
    const { engine, network, arrivals } = star([link100(), link100(), link100(), link100()]);
    const group = groupAddress(0);
    for (const host of [1, 2, 3]) network.join(group, host);
    network.leave(group, 2);
    network.send(0, 1, group, 1, message(500));
    engine.run();
    expect(hostsOf(arrivals)).toEqual([1, 3]);
    expect(network.members(group)).toEqual([1, 3]);
  });

  it("counts a packet to a group without members and delivers nothing", () => {
    const { engine, network, arrivals } = star([link100(), link100()]);
    network.send(0, 1, groupAddress(9), 1, message(500));
    engine.run();
    expect(arrivals).toEqual([]);
    expect(network.stats).toMatchObject({ switched: 1, noMembers: 1, copies: 0 });
  });

  it("removes a crashed host from every group with leaveAll", () => {
    const { network } = star([link100(), link100()]);
    network.join(groupAddress(1), 1);
    network.join(groupAddress(2), 1);
    network.leaveAll(1);
    expect([network.members(groupAddress(1)), network.members(groupAddress(2))]).toEqual([[], []]);
  });

  it("refuses to send to a host that does not exist", () => {
    const { network } = star([link100(), link100()]);
    expect(() => network.send(0, 1, 2, 1, message(10))).toThrow(/unknown host/);
    expect(() => network.send(0, 1, -1, 1, message(10))).toThrow(/unknown host/);
  });
});

describe("Network loss", () => {
  it("loses a measured fraction of 100,000 packets within five binomial sigmas of a Bernoulli uplink rate", () => {
    const n = 100_000;
    const rate = 0.03;
    const { engine, network, arrivals } = star([link100(), link100()]);
    network.setLoss(network.uplinks[0]!, { model: "bernoulli", rate });
    for (let seq = 0; seq < n; seq++) network.send(0, 1, 1, 1, message(100, seq));
    engine.run();
    const lost = network.stats.lostUplink;
    expect(Math.abs(lost - n * rate)).toBeLessThan(5 * Math.sqrt(n * rate * (1 - rate)));
    expect(arrivals.length).toBe(n - lost);
    expect(network.uplinks[0]!.stats.lost).toBe(lost);
  });

  it("loses on one receiver's downlink only what that receiver misses", () => {
    const n = 20_000;
    const rate = 0.1;
    const { engine, network, arrivals } = star([link100(), link100(), link100()]);
    const group = groupAddress(0);
    network.join(group, 1);
    network.join(group, 2);
    network.setLoss(network.downlinks[2]!, { model: "bernoulli", rate });
    for (let seq = 0; seq < n; seq++) network.send(0, 1, group, 1, message(100, seq));
    engine.run();
    const toHost1 = arrivals.filter((a) => a.host === 1).length;
    const toHost2 = arrivals.filter((a) => a.host === 2).length;
    expect(toHost1).toBe(n);
    expect(Math.abs(n - toHost2 - n * rate)).toBeLessThan(5 * Math.sqrt(n * rate * (1 - rate)));
    expect(network.stats.lostDownlink).toBe(n - toHost2);
  });

  it("loses in Gilbert-Elliott bursts whose measured rate and mean length match burstParams", () => {
    const n = 100_000;
    const rate = 0.05;
    const meanBurst = 5;
    const params = burstParams(rate, meanBurst);
    const { engine, network, arrivals } = star([link100(), link100()]);
    network.setLoss(network.downlinks[1]!, { model: "gilbert-elliott", params });
    for (let seq = 0; seq < n; seq++) network.send(0, 1, 1, 1, message(100, seq));
    engine.run();
    // Runs of consecutive losses are the gaps in the received sequence numbers (and a lost tail).
    let bursts = 0;
    let expectedSeq = 0;
    for (const { seq } of arrivals) {
      if (seq > expectedSeq) bursts++;
      expectedSeq = seq + 1;
    }
    if (expectedSeq < n) bursts++;
    const lost = n - arrivals.length;
    const lambda = 1 - params.goodToBad - params.badToGood;
    const rateSd = Math.sqrt(((rate * (1 - rate)) / n) * ((1 + lambda) / (1 - lambda)));
    expect(Math.abs(lost / n - rate)).toBeLessThan(5 * rateSd);
    const burstSd = Math.sqrt(1 - params.badToGood) / params.badToGood;
    expect(Math.abs(lost / bursts - meanBurst)).toBeLessThan((5 * burstSd) / Math.sqrt(bursts));
  });

  it("draws the same losses for the same seed and removes loss with setLoss(null)", () => {
    const run = (): number[] => {
      const { engine, network, arrivals } = star([link100(), link100()]);
      network.setLoss(network.uplinks[0]!, { model: "bernoulli", rate: 0.5 });
      for (let seq = 0; seq < 200; seq++) network.send(0, 1, 1, 1, message(100, seq));
      network.setLoss(network.uplinks[0]!, null);
      for (let seq = 200; seq < 300; seq++) network.send(0, 1, 1, 1, message(100, seq));
      engine.run();
      return arrivals.map((a) => a.seq);
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(first.filter((seq) => seq >= 200)).toHaveLength(100);
  });
});

describe("Network partitions", () => {
  it("drops what crosses a two-way partition, in both directions, and counts it", () => {
    const { engine, network, arrivals } = star([link100(), link100(), link100()]);
    network.partition([0], [1], false);
    network.send(0, 1, 1, 1, message(100, 1));
    network.send(1, 1, 0, 1, message(100, 2));
    network.send(0, 1, 2, 1, message(100, 3));
    engine.run();
    expect(arrivals.map((a) => a.seq)).toEqual([3]);
    expect(network.stats.partitionDrops).toBe(2);
  });

  it("blocks only one direction of a one-way partition", () => {
    const { engine, network, arrivals } = star([link100(), link100()]);
    network.partition([0], [1], true);
    network.send(0, 1, 1, 1, message(100, 1));
    network.send(1, 1, 0, 1, message(100, 2));
    engine.run();
    expect(arrivals.map((a) => [a.seq, a.host])).toEqual([[2, 0]]);
    expect(network.stats.partitionDrops).toBe(1);
  });

  it("drops only the multicast copies that cross a partition", () => {
    const { engine, network, arrivals } = star([link100(), link100(), link100(), link100()]);
    const group = groupAddress(0);
    for (const host of [1, 2, 3]) network.join(group, host);
    network.partition([0, 1], [2], false);
    network.send(0, 1, group, 1, message(100));
    engine.run();
    expect(hostsOf(arrivals)).toEqual([1, 3]);
    expect(network.stats).toMatchObject({ copies: 3, partitionDrops: 1, delivered: 2 });
  });

  it("delivers again once the partition heals, and keeps other partitions in place", () => {
    const { engine, network, arrivals } = star([link100(), link100(), link100()]);
    const cut01 = network.partition([0], [1], false);
    network.partition([0], [2], false);
    network.heal(cut01);
    network.send(0, 1, 1, 1, message(100, 1));
    network.send(0, 1, 2, 1, message(100, 2));
    engine.run();
    expect(arrivals.map((a) => a.seq)).toEqual([1]);
    expect(network.blocked(0, 2)).toBe(true);
    expect(network.blocked(0, 1)).toBe(false);
  });

  it("refuses a host on both sides of a partition", () => {
    const { network } = star([link100(), link100()]);
    expect(() => network.partition([0, 1], [1], false)).toThrow(/both sides/);
  });
});

describe("Network queues", () => {
  it("drops at a full uplink queue, counts the drops, and never exceeds queueBytesMax", () => {
    // A 5000-byte queue holds five 1000-byte packets offered at once; the other five are dropped.
    const { engine, network, arrivals } = star([link100({ queueBytesMax: 5_000 }), link100()]);
    for (let seq = 0; seq < 10; seq++) network.send(0, 1, 1, 1, message(1_000, seq));
    engine.run();
    expect(arrivals.map((a) => a.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(network.stats.queueDropsUplink).toBe(5);
    expect(network.uplinks[0]!.stats.queueDrops).toBe(5);
    expect(network.uplinks[0]!.stats.queueBytesPeak).toBe(5_000);
  });

  it("drops at a receiver's downlink when two senders at full rate converge on it", () => {
    // Both uplinks deliver a packet to the switch every 80 us, the downlink drains one per 80 us:
    // it gains 1000 bytes of backlog per 80 us until its 3000-byte queue overflows.
    const spec = link100({ queueBytesMax: 3_000 });
    const { engine, network, arrivals } = star([link100(), link100(), spec]);
    for (let seq = 0; seq < 20; seq++) {
      network.send(0, 1, 2, 1, message(1_000, seq));
      network.send(1, 1, 2, 1, message(1_000, 100 + seq));
    }
    engine.run();
    const down = network.downlinks[2]!;
    expect(network.stats.queueDropsDownlink).toBeGreaterThan(0);
    expect(network.stats.queueDropsDownlink).toBe(down.stats.queueDrops);
    expect(arrivals.length + network.stats.queueDropsDownlink).toBe(40);
    expect(down.stats.queueBytesPeak).toBeLessThanOrEqual(3_000);
    // The downlink never idles once loaded: the last delivery is 80 us after the one before it.
    const times = arrivals.map((a) => a.atUs);
    expect(times[times.length - 1]! - times[times.length - 2]!).toBe(80);
  });

  it("counts a copy its host turns away as undeliverable", () => {
    const { engine, network } = star([link100(), link100()], [1]);
    network.send(0, 1, 1, 1, message(100));
    engine.run();
    expect(network.stats).toMatchObject({ delivered: 0, undeliverable: 1 });
  });
});

type NetAction =
  | { kind: "send"; atUs: number; src: number; dst: number; bytes: number }
  | { kind: "partition"; atUs: number; a: number; b: number; oneWay: boolean }
  | { kind: "heal"; atUs: number };

const HOSTS = 5;
const GROUP = groupAddress(0);

const netAction: fc.Arbitrary<NetAction> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant("send" as const),
      atUs: fc.integer({ min: 0, max: 20_000 }),
      src: fc.nat({ max: HOSTS - 1 }),
      dst: fc.oneof(fc.nat({ max: HOSTS - 1 }), fc.constant(GROUP)),
      bytes: fc.integer({ min: 1, max: 3_000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("partition" as const),
      atUs: fc.integer({ min: 0, max: 20_000 }),
      a: fc.nat({ max: HOSTS - 1 }),
      b: fc.nat({ max: HOSTS - 1 }),
      oneWay: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("heal" as const), atUs: fc.integer({ min: 0, max: 20_000 }) }),
  },
);

const lossSpec: fc.Arbitrary<LossSpec | null> = fc.oneof(
  fc.constant(null),
  fc.record({ model: fc.constant("bernoulli" as const), rate: fc.double({ min: 0, max: 0.5, noNaN: true }) }),
  fc
    .record({
      rate: fc.double({ min: 0.01, max: 0.3, noNaN: true }),
      burst: fc.double({ min: 1, max: 6, noNaN: true }),
    })
    .map(({ rate, burst }): LossSpec => ({ model: "gilbert-elliott", params: burstParams(rate, burst) })),
);

describe("Network accounting", () => {
  it("accounts for every packet and every copy at every step of any run, and empties in the end", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(netAction, { maxLength: 120, size: "large" }),
        fc.array(fc.integer({ min: 1_000, max: 8_000 }), { minLength: HOSTS * 2, maxLength: HOSTS * 2 }),
        fc.array(lossSpec, { minLength: HOSTS * 2, maxLength: HOSTS * 2 }),
        fc.subarray([0, 1, 2, 3, 4]),
        fc.integer({ min: 1, max: 9 }),
        async (actions, queues, losses, members, slice) => {
          await breathe();
          const links = Array.from({ length: HOSTS }, (_, i) =>
            link100({ bandwidthBps: 10 * MBIT, latencyUs: 100 + i * 37, queueBytesMax: queues[i]! }),
          );
          const { engine, network } = star(links, [4]);
          for (let h = 0; h < HOSTS; h++) {
            const downlink = network.downlinks[h]!;
            downlink.spec = { ...downlink.spec, queueBytesMax: queues[HOSTS + h]! };
            network.setLoss(network.uplinks[h]!, losses[h]!);
            network.setLoss(network.downlinks[h]!, losses[HOSTS + h]!);
          }
          for (const m of members) network.join(GROUP, m);
          const cuts: number[] = [];
          const act = engine.register<NetAction>("act", (_arg, a) => {
            if (a.kind === "send") network.send(a.src, 1, a.dst, 1, message(a.bytes));
            else if (a.kind === "partition" && a.a !== a.b) cuts.push(network.partition([a.a], [a.b], a.oneWay));
            else if (a.kind === "heal" && cuts.length > 0) network.heal(cuts.shift()!);
          });
          for (const a of actions) engine.at(a.atUs, act, 0, a);
          while (engine.run({ eventsMax: slice }) === "eventsMax") expectConserved(network.stats);
          expectConserved(network.stats);
          const s = network.stats;
          expect([s.inFlightUplink, s.inFlightDownlink, s.held]).toEqual([0, 0, 0]);
          expect(s.sent).toBe(actions.filter((a) => a.kind === "send").length);
          const sum = (links: typeof network.uplinks, key: "lost" | "queueDrops"): number =>
            links.reduce((total, link) => total + link.stats[key], 0);
          expect(sum(network.uplinks, "lost")).toBe(s.lostUplink);
          expect(sum(network.uplinks, "queueDrops")).toBe(s.queueDropsUplink);
          expect(sum(network.downlinks, "lost")).toBe(s.lostDownlink);
          expect(sum(network.downlinks, "queueDrops")).toBe(s.queueDropsDownlink);
          for (const link of [...network.uplinks, ...network.downlinks]) {
            expect(link.stats.queueBytesPeak).toBeLessThanOrEqual(link.spec.queueBytesMax);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
