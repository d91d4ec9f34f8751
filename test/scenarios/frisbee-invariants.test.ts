import { afterEach, describe, expect, it } from "vitest";
import { buildWorld, type BuiltWorld } from "../../scenarios/build.js";
import { CONTROL_PER_CLIENT_CHUNK_MAX, CONTROL_PER_CLIENT_EXTRA } from "../../scenarios/frisbee/invariants.js";
import { checkInvariants, INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { parseScenario, type Scenario } from "../../scenarios/schema.js";
import { once, Tampering } from "./support.js";

/**
 * Each Frisbee invariant against a world broken on purpose: a small transfer runs honestly, then
 * one fact the invariant judges is changed, and the invariant must say so, naming what is wrong.
 * The honest run holds every invariant, so each failure below is the broken fact's doing. The
 * tests share one run (built by the first that asks: see once) and each undoes its change after.
 */
const SMALL = {
  name: "frisbee-invariants",
  duration: "30s",
  hosts: [{ name: "server" }, { name: "node", count: 5 }],
  network: {
    headerBytes: 28,
    defaults: { bandwidth: "1Gbit", latency: "50us", queue: "512KiB" },
    links: [{ hosts: "node*", bandwidth: "100Mbit", loss: 0.01, direction: "down" }],
  },
  disks: [{ hosts: "node*", size: "1GiB", write: "100MiB/s" }],
  cpus: [{ hosts: "node*", cores: 1, costs: { inflate: "100MiB/s" } }],
  frisbee: {
    servers: [{ host: "server", image: { compressed: "4MiB", uncompressed: "12MiB" }, bandwidth: "72Mbit", idleExit: "5s" }],
    clients: [
      { hosts: "node[0-2]", heartbeat: "1s" },
      // Told to leave before it can finish: not owed an image.
      { hosts: "node3", leaveAt: "100ms" },
      // Crashed for good: not owed an image either.
      { hosts: "node4" },
    ],
  },
  faults: [{ type: "crash", at: "50ms", hosts: "node4" }],
};

/** The installed servers share their declaration with the scenario: a change to one is undone for both. */
const parse = (): Scenario => parseScenario(JSON.stringify(SMALL), "frisbee-invariants.json", INVARIANT_NAMES);
/** Chunks of the 4 MiB image and clients of its server, as controlBounded counts them. */
const CHUNKS = 4;
const CLIENTS = 5;

const honestRun = once((): { scenario: Scenario; built: BuiltWorld } => {
  const scenario = parse();
  const built = buildWorld(scenario, 3);
  built.world.engine.run({ untilUs: scenario.durationUs });
  return { scenario, built };
});

/** The shared run's world, to change (through Tampering) and judge. */
const world = (): BuiltWorld => honestRun().built;

const verdict = (name: string): { ok: boolean; detail: string } => {
  const found = checkInvariants(honestRun().scenario, world()).find((i) => i.name === name);
  if (found === undefined) throw new Error(`${name} was not checked`);
  return { ok: found.ok, detail: found.detail };
};

describe("the Frisbee invariants on a world broken on purpose", () => {
  const tampering = new Tampering();
  const set = tampering.set.bind(tampering);
  afterEach(() => tampering.undo());

  it("hold on the honest run, which finishes three clients, one leaving and one crashed", () => {
    const { scenario, built } = honestRun();
    expect(checkInvariants(scenario, built).filter((i) => !i.ok)).toEqual([]);
    const f = built.frisbee!;
    expect(f.clients.filter((c) => c.client.state === "done")).toHaveLength(3);
    expect(f.clients.find((c) => c.host === 4)?.client.state).toBe("left");
  });

  it("frisbee-image-exact fails when a finished client wrote a chunk twice, or never", () => {
    const done = world().frisbee!.clients.find((c) => c.client.state === "done")!;
    set(done.client.chunkWrites(), 2, 2);
    expect(verdict("frisbee-image-exact")).toEqual({ ok: false, detail: `client on host ${done.host} wrote chunk 2 2 times` });
    set(done.client.chunkWrites(), 2, 0);
    expect(verdict("frisbee-image-exact")).toEqual({ ok: false, detail: `client on host ${done.host} wrote chunk 2 0 times` });
  });

  it("frisbee-image-exact fails when a finished client wrote fewer bytes than the image holds", () => {
    const done = world().frisbee!.clients.find((c) => c.client.state === "done")!;
    set(done.client.counters, "bytesWritten", done.client.counters.bytesWritten - 512);
    expect(verdict("frisbee-image-exact")).toEqual({
      ok: false,
      detail: `client on host ${done.host} wrote ${12 * 2 ** 20 - 512} bytes, the image is ${12 * 2 ** 20}`,
    });
  });

  it("frisbee-image-exact judges only finished clients (an unfinished one is frisbee-clients-finish's)", () => {
    const left = world().frisbee!.clients.find((c) => c.client.state === "left")!;
    set(left.client.chunkWrites(), 0, 3);
    expect(verdict("frisbee-image-exact").ok).toBe(true);
  });

  it("frisbee-control-bounded holds at its bound and fails one message over it, counting requests, partial requests, joins and leaves", () => {
    const st = world().frisbee!.servers[0]!.server.stats;
    const bound = CONTROL_PER_CLIENT_CHUNK_MAX * CLIENTS * CHUNKS + CONTROL_PER_CLIENT_EXTRA * CLIENTS;
    const control = (): number => st.requests + st.prequests + st.joins + st.leaves;
    expect(control()).toBeLessThan(bound);
    set(st, "requests", st.requests + bound - control());
    expect(verdict("frisbee-control-bounded").ok).toBe(true);
    for (const field of ["requests", "prequests", "joins", "leaves"] as const) {
      set(st, field, st[field] + 1);
      expect(verdict("frisbee-control-bounded"), field).toEqual({
        ok: false,
        detail: `server received ${bound + 1} control messages from ${CLIENTS} clients for ${CHUNKS} chunks (bound ${bound})`,
      });
      set(st, field, st[field] - 1);
    }
  });

  it("frisbee-clients-finish fails for a client that stopped short, but not for one told to leave or whose host crashed", () => {
    const done = world().frisbee!.clients.find((c) => c.client.state === "done")!;
    set(done.client as { state: string }, "state", "receiving");
    expect(verdict("frisbee-clients-finish")).toEqual({ ok: false, detail: `1 clients did not finish: host ${done.host} (receiving)` });
  });

  it("frisbee-server-rate holds for a dynamic server however fast it sent (its burst is its own to change)", () => {
    const life = world().frisbee!.servers[0]!;
    set(life.decl, "pacing", { burstPackets: 1, burstGapUs: 1_000_000 });
    expect(verdict("frisbee-server-rate").ok).toBe(false);
    set(life.decl, "dynamic", true);
    expect(verdict("frisbee-server-rate").ok).toBe(true);
  });

  it("frisbee-server-rate fails when a burst holds one block more than its pacing allows, over one gap or over a hundred", () => {
    const life = world().frisbee!.servers[0]!;
    const { burstPackets, burstGapUs } = life.decl.pacing;
    // Three bursts on time: the most in any window of one gap is two bursts.
    const burst = (atUs: number, n: number): number[] => Array.from({ length: n }, () => atUs);
    set(life, "blockSendsUs", [...burst(0, burstPackets), ...burst(burstGapUs, burstPackets), ...burst(2 * burstGapUs, burstPackets)]);
    expect(verdict("frisbee-server-rate").ok).toBe(true);
    set(life, "blockSendsUs", [...burst(0, burstPackets), ...burst(burstGapUs - 1, burstPackets + 1)]);
    expect(verdict("frisbee-server-rate")).toEqual({
      ok: false,
      detail: `server sent ${2 * burstPackets + 1} blocks in ${burstGapUs}us from 0us, pacing of ${burstPackets} per ${burstGapUs}us allows ${2 * burstPackets}`,
    });
    // A pacer a little fast on every burst: within one gap's window it never shows, over a hundred it does.
    set(life, "blockSendsUs", Array.from({ length: 102 }, (_, i) => burst(Math.floor((i * burstGapUs * 98) / 100), burstPackets)).flat());
    expect(verdict("frisbee-server-rate").detail).toMatch(new RegExp(`blocks in ${100 * burstGapUs}us from`));
  });
});
