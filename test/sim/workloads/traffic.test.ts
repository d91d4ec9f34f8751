import { describe, expect, it } from "vitest";
import { groupAddress, type Address } from "../../../core/engine/ports.js";
import type { Host } from "../../../sim/host.js";
import {
  TrafficSink,
  TrafficSource,
  type TrafficMessage,
  type TrafficSourceConfig,
} from "../../../sim/workloads/traffic.js";
import { World } from "../../../sim/world.js";
import { link100, MBIT } from "../support.js";

const PORT = 5000;

/** Hosts on 1 Gbit/s links with 500 us latency: a 1000-byte packet takes 8 + 500 + 8 + 500 us. */
function world(hosts: number): { world: World; hosts: Host[] } {
  const w = new World("traffic");
  const list = Array.from({ length: hosts }, (_, i) => w.addHost(`h${i}`, link100({ bandwidthBps: 1_000 * MBIT })));
  return { world: w, hosts: list };
}

function installSource(w: World, host: Host, config: Partial<TrafficSourceConfig>): TrafficSource[] {
  const made: TrafficSource[] = [];
  w.install(host, PORT, (env) => {
    const source = new TrafficSource(env, {
      flowBase: 1,
      to: [],
      port: PORT,
      rateBps: 10 * MBIT,
      packetBytes: 1_000,
      pattern: "constant",
      startUs: 0,
      stopUs: 1_000_000,
      ...config,
    });
    made.push(source);
    return source;
  });
  return made;
}

function installSink(w: World, host: Host, groups: readonly Address[] = []): TrafficSink[] {
  const made: TrafficSink[] = [];
  w.install(host, PORT, (env) => {
    const sink = new TrafficSink(env, groups);
    made.push(sink);
    return sink;
  });
  return made;
}

describe("TrafficSource and TrafficSink", () => {
  for (const { rateMbit, packetBytes } of [
    { rateMbit: 10, packetBytes: 1_000 }, // a gap of exactly 800 us
    { rateMbit: 300, packetBytes: 1_000 }, // a gap of 26.67 us, which must not be rounded to 27 each time
    { rateMbit: 7, packetBytes: 1_400 }, // a gap of 1,600 us
  ]) {
    it(`sends floor(duration * R / 8P) +-1 packets at ${rateMbit} Mbit/s of ${packetBytes} B, counted once`, () => {
      const { world: w, hosts } = world(2);
      const durationUs = 1_000_000;
      const [source] = installSource(w, hosts[0]!, {
        to: [hosts[1]!.id],
        rateBps: rateMbit * MBIT,
        packetBytes,
        startUs: 0,
        stopUs: durationUs,
      });
      const [sink] = installSink(w, hosts[1]!);
      w.run();
      const expected = Math.floor((durationUs / 1e6) * ((rateMbit * MBIT) / (8 * packetBytes)));
      const sent = source!.stats.sent[0]!;
      expect(Math.abs(sent - expected)).toBeLessThanOrEqual(1);
      const receipt = sink!.flows.get(1)!;
      expect(receipt).toMatchObject({ packets: sent, duplicates: 0, seqMax: sent - 1, bytes: sent * packetBytes });
      // Far below link speed nothing queues: every packet takes 2 * (ser + 500) us.
      const oneWayUs = 2 * (Math.ceil((packetBytes * 8) / 1_000) + 500);
      expect(receipt.latencyUsSum).toBe(sent * oneWayUs);
    });
  }

  it("sends nothing before startUs and nothing at or after stopUs", () => {
    // 10 Mbit/s in 1000-byte packets: one every 800 us, at 2,000, 2,800, ... up to 9,200 (< 10,000).
    const { world: w, hosts } = world(2);
    const [source] = installSource(w, hosts[0]!, { to: [hosts[1]!.id], startUs: 2_000, stopUs: 10_000 });
    const [sink] = installSink(w, hosts[1]!);
    w.run();
    expect(source!.stats.sent[0]!).toBe(10);
    const arrivals = sink!.flows.get(1)!.arrivals;
    const sentTimes = arrivals.filter((_, i) => i % 2 === 0);
    expect(sentTimes).toEqual(Array.from({ length: 10 }, (_, i) => 2_000 + 800 * i));
  });

  it("keeps constant-rate packets within a microsecond of the exact schedule, never drifting by rounding", () => {
    const { world: w, hosts } = world(2);
    installSource(w, hosts[0]!, { to: [hosts[1]!.id], rateBps: 300 * MBIT, stopUs: 100_000 });
    const [sink] = installSink(w, hosts[1]!);
    w.run();
    const arrivals = sink!.flows.get(1)!.arrivals;
    // 1000 bytes at 300 Mbit/s: one every 26.67 us. Rounding every gap to 27 us would drift by
    // 0.33 us a packet, 1,250 us over the 3,750 packets.
    const gapUs = (1_000 * 8) / 300;
    let strayUsMax = 0;
    for (let i = 0; i < arrivals.length; i += 2) {
      strayUsMax = Math.max(strayUsMax, Math.abs(arrivals[i]! - (i / 2) * gapUs));
    }
    expect(arrivals.length / 2).toBe(3_750);
    expect(strayUsMax).toBeLessThanOrEqual(1);
  });

  it("sends a Poisson stream whose count is within five sigmas of duration * R / 8P", () => {
    // 10 Mbit/s in 1000-byte packets over 10 s: a mean of 12,500 packets, standard deviation about 112.
    const { world: w, hosts } = world(2);
    const [source] = installSource(w, hosts[0]!, { to: [hosts[1]!.id], pattern: "poisson", stopUs: 10_000_000 });
    const [sink] = installSink(w, hosts[1]!);
    w.run();
    const mean = 12_500;
    expect(Math.abs(source!.stats.sent[0]! - mean)).toBeLessThan(5 * Math.sqrt(mean));
    expect(sink!.flows.get(1)!.packets).toBe(source!.stats.sent[0]!);
  });

  it("reaches every sink that joined the group, once per packet", () => {
    const { world: w, hosts } = world(4);
    const group = groupAddress(1);
    const sinks = [1, 2, 3].flatMap((i) => installSink(w, hosts[i]!, [group]));
    const [source] = installSource(w, hosts[0]!, { to: [group], stopUs: 100_000 });
    w.run();
    const sent = source!.stats.sent[0]!;
    expect(sent).toBe(125); // 100,000 / 800
    for (const sink of sinks) expect(sink.flows.get(1)).toMatchObject({ packets: sent, duplicates: 0 });
  });

  it("counts a repeated sequence number as a duplicate and a foreign payload as foreign", () => {
    const { world: w, hosts } = world(1);
    const [sink] = installSink(w, hosts[0]!);
    const message: TrafficMessage = { type: "traffic", wireBytes: 100, flow: 3, seq: 5_000, life: 0, sentUs: 0 };
    sink!.receive(0, 1, message);
    sink!.receive(0, 1, message);
    const earlier: TrafficMessage = { ...message, seq: 4 };
    sink!.receive(0, 1, earlier);
    sink!.receive(0, 1, new Uint8Array(3));
    sink!.receive(0, 1, { type: "other", wireBytes: 1 });
    expect(sink!.flows.get(3)).toMatchObject({ packets: 2, duplicates: 1, seqMax: 5_000, bytes: 200 });
    expect(sink!.foreign).toBe(2);
  });
});
