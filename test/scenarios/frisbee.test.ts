import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { buildWorld } from "../../scenarios/build.js";
import { maxInWindow } from "../../scenarios/frisbee/invariants.js";
import { parseStartPattern } from "../../scenarios/start.js";
import { checkInvariants, INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { ScenarioError } from "../../scenarios/reader.js";
import { runScenario } from "../../scenarios/runner.js";
import { parseScenario } from "../../scenarios/schema.js";
import { frisbeeStats } from "../../sim/frisbee/stats.js";
import { once, Tampering } from "./support.js";
import { breathe } from "../support/breathe.js";

const EXAMPLE = fileURLToPath(new URL("../../scenarios/examples/frisbee-small.json", import.meta.url));
const text = readFileSync(EXAMPLE, "utf8");
const parse = (json: string) => parseScenario(json, "f.json", INVARIANT_NAMES);
/** Events per slice of a long run, between two turns of the event loop. */
const ENGINE_SLICE_EVENTS = 20_000;

describe("a Frisbee scenario", () => {
  /** Seed 5's run, built by the first test that asks (see once); the pacing test undoes its change. */
  const run = once(() => {
    const scenario = parse(text);
    const built = buildWorld(scenario, 5);
    built.world.engine.run({ untilUs: scenario.durationUs });
    return { scenario, built, frisbee: frisbeeStats(built.frisbee!) };
  });
  const tampering = new Tampering();
  afterEach(() => tampering.undo());

  it("loads the image onto every client, late joiners and a restarted one included, with every invariant held", () => {
    const { scenario, built, frisbee } = run();
    const invariants = checkInvariants(scenario, built);
    expect(invariants.filter((i) => !i.ok)).toEqual([]);
    expect(invariants.map((i) => i.name)).toEqual(expect.arrayContaining(["frisbee-clients-finish", "frisbee-image-exact", "frisbee-server-rate", "frisbee-control-bounded"]));
    expect(frisbee.finished).toBe(20);
    expect(built.world.eventCounts.get("host.restart")).toBe(1);
  });

  it("reports runtimes, duplicate data, server rate, control rate and heartbeats", () => {
    const f = run().frisbee;
    expect(f.runtimeSecMin).toBeGreaterThan(0);
    expect(f.runtimeSecMin).toBeLessThanOrEqual(f.runtimeSecMean);
    expect(f.runtimeSecMean).toBeLessThanOrEqual(f.runtimeSecMax);
    // 72 Mbit/s of wire is about 64 Mbit/s of block payload; the server never goes faster.
    expect(f.serverMbps).toBeLessThanOrEqual(72);
    expect(f.serverMbps).toBeGreaterThan(30);
    expect(f.heartbeatsReceived).toBeGreaterThan(20);
    expect(f.duplicateDataPct).toBeGreaterThan(0);
  });

  it("catches a server that sends faster than its pacing", () => {
    const { scenario, built } = run();
    for (const life of built.frisbee!.servers) tampering.set(life.decl, "pacing", { burstPackets: 8, burstGapUs: 2000 });
    const rate = checkInvariants(scenario, built).find((i) => i.name === "frisbee-server-rate");
    expect(rate?.ok).toBe(false);
    expect(rate?.detail).toMatch(/pacing of 8 per 2000us allows \d+/);
  });

  it("catches a client that did not finish", () => {
    const short = parse(text.replace('"duration": "120s"', '"duration": "3s"'));
    const run = runScenario(short, { seed: 5 });
    expect(run.result.invariants.find((i) => i.name === "frisbee-clients-finish")?.detail).toMatch(/clients did not finish/);
  });
});

describe("Frisbee scenario fields", () => {
  const refuse = (from: string, to: string) => () => parse(text.replace(from, to));

  it("refuses a burst of 0, a negative bandwidth and both a bandwidth and a burst, naming the field", () => {
    expect(refuse('"bandwidth": "72Mbit"', '"burst": 0')).toThrow(/frisbee\.servers\[0\]\.burst: expected a number from 1/);
    expect(refuse('"bandwidth": "72Mbit"', '"bandwidth": "-5Mbit"')).toThrow(/frisbee\.servers\[0\]\.bandwidth: expected a rate/);
    expect(refuse('"bandwidth": "72Mbit"', '"bandwidth": "72Mbit", "burst": 4')).toThrow(/either a bandwidth or a burst/);
    expect(refuse('"bandwidth": "72Mbit"', '"bandwidth": "72Mbit"')).not.toThrow();
  });

  it("refuses a start pattern it does not know and a server that does not exist", () => {
    expect(refuse('"start": "uniform:4s"', '"start": "eventually"')).toThrow(ScenarioError);
    expect(refuse('"start": "uniform:4s"', '"start": "eventually"')).toThrow(/frisbee\.clients\[1\]\.start: "eventually" is not a start pattern; expected simultaneous, clustered:K:S .* or uniform:S/);
    expect(refuse('{ "hosts": "node[0-15]", "heartbeat": "2s" }', '{ "hosts": "node[0-15]", "server": 3 }')).toThrow(/there is no server 3/);
  });

  it("reads the three start patterns", () => {
    expect(parseStartPattern("simultaneous")).toEqual({ kind: "simultaneous" });
    expect(parseStartPattern("clustered:4:10s")).toEqual({ kind: "clustered", clusters: 4, everyUs: 10_000_000 });
    expect(parseStartPattern("uniform:30s")).toEqual({ kind: "uniform", overUs: 30_000_000 });
    expect(parseStartPattern("clustered:0:1s")).toBeNull();
  });

  it("counts the most sends in any window", () => {
    expect(maxInWindow([0, 1, 2, 10, 11], 5)).toEqual({ count: 3, atUs: 0 });
    expect(maxInWindow([0, 5, 10], 5)).toEqual({ count: 1, atUs: 0 });
  });
});

describe("Frisbee scenarios with several servers and a server crash", () => {
  /** One or two servers on one host, sharing its 80 Mbit/s uplink; each asks for 60 Mbit/s. */
  const servers = (count: 1 | 2): string =>
    JSON.stringify({
      name: "servers-sharing-a-link",
      duration: "120s",
      hosts: [{ name: "server" }, { name: "node", count: 12 }],
      network: {
        headerBytes: 28,
        defaults: { bandwidth: "1Gbit", latency: "50us", queue: "512KiB" },
        links: [
          { hosts: "server", bandwidth: "80Mbit", direction: "up" },
          { hosts: "node*", bandwidth: "100Mbit", loss: 0.01, direction: "down" },
        ],
      },
      disks: [{ hosts: "node*", size: "1GiB", write: "200MiB/s" }],
      frisbee: {
        servers: [
          { host: "server", group: 1, port: 7000, image: { compressed: "12MiB", uncompressed: "36MiB" }, bandwidth: "60Mbit", idleExit: "20s" },
          { host: "server", group: 2, port: 7001, image: { compressed: "12MiB", uncompressed: "36MiB" }, bandwidth: "60Mbit", idleExit: "20s" },
        ].slice(0, count),
        clients: [
          { hosts: "node[0-5]", server: 0, heartbeat: "2s" },
          { hosts: "node[6-11]", server: count - 1, heartbeat: "2s" },
        ],
      },
    });

  it("loads each server's image onto its own clients when two servers share one uplink, each slowed by the other", async () => {
    const { result } = runScenario(parse(servers(2)), { seed: 11 });
    expect(result.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(result.frisbee?.finished).toBe(12);
    await breathe();
    const alone = runScenario(parse(servers(1)), { seed: 11 }).result;
    expect(alone.frisbee?.finished).toBe(12);
    // 2 x 60 Mbit/s do not fit in 80 Mbit/s: both images must cross the shared uplink, so the
    // clients wait at least that long, longer than one server alone at its own rate.
    const bothImagesSec = (2 * 12 * 2 ** 20 * 8) / 80e6;
    expect(alone.frisbee!.runtimeSecMean).toBeLessThan(bothImagesSec);
    expect(result.frisbee!.runtimeSecMean).toBeGreaterThan(bothImagesSec);
  });

  it("lets every client finish when the server host crashes mid-transfer and restarts", async () => {
    const crash = JSON.parse(text) as { faults: unknown[] };
    crash.faults = [{ type: "crash", at: "2s", hosts: "server", restart: "2s" }];
    const { result } = runScenario(parse(JSON.stringify(crash)), { seed: 5 });
    expect(result.eventCounts["host.crash"]).toBe(1);
    expect(result.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(result.frisbee?.finished).toBe(20);
    crash.faults = [];
    await breathe();
    const calm = runScenario(parse(JSON.stringify(crash)), { seed: 5 }).result;
    // The clients keep writing what they hold while the server is down, but the outage still costs time.
    expect(result.frisbee!.runtimeSecMean).toBeGreaterThan(calm.frisbee!.runtimeSecMean);
  });
});

describe("the server's progress requests", () => {
  /** frisbee-small (20 clients, 16 joining together) with the server asking for reports and the clients' own timers off. */
  const asking = async (progressRequest: object): Promise<{ reports: number[]; perClient: Map<number, number> }> => {
    const doc = JSON.parse(text) as { frisbee: { servers: Record<string, unknown>[]; clients: Record<string, unknown>[] } };
    (doc.frisbee.servers[0] as Record<string, unknown>).progressRequest = progressRequest;
    for (const c of doc.frisbee.clients) delete c.heartbeat;
    const scenario = parse(JSON.stringify(doc));
    const built = buildWorld(scenario, 5);
    // In slices (the engine runs the same events in the same order), letting the event loop turn between.
    while (built.world.engine.run({ untilUs: scenario.durationUs, eventsMax: ENGINE_SLICE_EVENTS }) === "eventsMax") await breathe();
    const progress = built.world.events.filter((e) => e.kind === "frisbee.progress");
    const perClient = new Map<number, number>();
    for (const e of progress) perClient.set(e.fields["client"] as number, (perClient.get(e.fields["client"] as number) ?? 0) + 1);
    return { reports: progress.map((e) => e.timeUs), perClient };
  };
  /** The most reports in any 10 ms bucket. */
  const busiestBucket = (timesUs: readonly number[]): number => {
    const buckets = new Map<number, number>();
    for (const t of timesUs) buckets.set(Math.floor(t / 10_000), (buckets.get(Math.floor(t / 10_000)) ?? 0) + 1);
    return Math.max(0, ...buckets.values());
  };

  /** node3 (client 5) crashes at 2 s and restarts: its second life is a new client, asked again. */
  const RESTARTED = 5;
  const oncePerLife = (perClient: Map<number, number>): void => {
    expect(perClient.size).toBe(20);
    for (const [client, n] of perClient) expect(n, `client ${client}`).toBe(client === RESTARTED ? 2 : 1);
  };

  it("asks for one report per client life with interval 0, not one from every client at every join", async () => {
    const { reports, perClient } = await asking({ interval: "0s" });
    expect(reports).toHaveLength(21);
    oncePerLife(perClient);
  });

  it("spreads once-requests over the interval, so clients joining together do not report together", async () => {
    // 6 s: every client is still loading when its report falls due (the fastest take about 7 s).
    const { reports, perClient } = await asking({ interval: "6s", once: true });
    oncePerLife(perClient);
    // 16 clients join in the same millisecond; spread over 6 s, no 10 ms bucket holds more than a few.
    expect(busiestBucket(reports)).toBeLessThanOrEqual(3);
    const first = Math.min(...reports);
    expect(Math.max(...reports) - first).toBeGreaterThan(2_000_000);
  });

  it("asks each joiner for periodic reports, which every client then sends on its own timer", async () => {
    const { perClient } = await asking({ interval: "2s" });
    // About a report every 2 s over each client's run of 10 s and more, late joiners included.
    expect(perClient.size).toBe(20);
    for (const n of perClient.values()) expect(n).toBeGreaterThanOrEqual(3);
  });

  it("reads once and its interval in any unit, and a level", () => {
    const doc = JSON.parse(text) as { frisbee: { servers: Record<string, unknown>[] } };
    (doc.frisbee.servers[0] as Record<string, unknown>).progressRequest = { interval: "1500ms", once: true, level: "full" };
    expect(parse(JSON.stringify(doc)).frisbee?.servers[0]?.progressRequest).toEqual({ intervalUs: 1_500_000, level: 2, once: true });
    (doc.frisbee.servers[0] as Record<string, unknown>).progressRequest = { interval: "1500ms" };
    expect(() => parse(JSON.stringify(doc))).toThrow(/progressRequest\.interval: the interval travels in whole seconds/);
  });
});
