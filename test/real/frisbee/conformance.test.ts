import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { groupAddress, type Micros } from "../../../core/engine/index.js";
import { FrisbeeClient } from "../../../core/frisbee/client.js";
import { pacingForBandwidth } from "../../../core/frisbee/rate.js";
import { FrisbeeServer } from "../../../core/frisbee/server.js";
import { runFrisbeeClient } from "../../../real/frisbee/client.js";
import { inflateForDisk } from "../../../real/frisbee/inflate-chunk.js";
import { startFrisbeed } from "../../../real/frisbee/server.js";
import type { Host } from "../../../sim/host.js";
import { World } from "../../../sim/world.js";
import { multicastSkipReason, titled } from "../../support/probes.js";
import { endpoint, IMAGE, LO, RAW, sameBytes, tempDir } from "./support.js";

/**
 * The same machines in two worlds: each scenario runs in the simulator (a World whose disks keep
 * data, chunks decoded by the same code as the real client) and on loopback multicast (the real
 * adapter, loss from its seeded drop filter). Both must end with targets identical to the source
 * disk and with heartbeat sequences of the same shape.
 */

interface Scenario {
  name: string;
  clients: number;
  /** Fraction of datagrams each client loses on the way in. */
  loss: number;
  /** The last client starts this long after the others; null: all at once. */
  lateJoinMs: number | null;
  heartbeatSec: number;
}

interface Report {
  seq: number;
  chunksReceived: number;
  bytesWritten: number;
}

interface Outcome {
  targets: Uint8Array[];
  /** Progress reports the server received, per client id, in order. */
  reports: Map<number, Report[]>;
}

const IMAGE_BYTES = readFileSync(IMAGE);
const PACING = pacingForBandwidth(50e6);
const CLIENT_ID_BASE = 1000;

const SCENARIOS: Scenario[] = [
  { name: "two clients", clients: 2, loss: 0, lateJoinMs: null, heartbeatSec: 0 },
  { name: "two clients losing 10% of datagrams", clients: 2, loss: 0.1, lateJoinMs: null, heartbeatSec: 0 },
  { name: "a late joiner", clients: 2, loss: 0, lateJoinMs: 200, heartbeatSec: 0 },
  { name: "a heartbeat every second", clients: 2, loss: 0.02, lateJoinMs: null, heartbeatSec: 1 },
];

const temp = tempDir("testbed-conformance-");
afterAll(temp.cleanup);

function report(fields: Readonly<Record<string, string | number | boolean>>): [number, Report] {
  return [Number(fields.client), { seq: Number(fields.SEQUENCE), chunksReceived: Number(fields.CHUNKS_RECV), bytesWritten: Number(fields.BYTES_WRITTEN) }];
}

function noted(reports: Map<number, Report[]>, [client, r]: [number, Report]): void {
  const list = reports.get(client) ?? [];
  list.push(r);
  reports.set(client, list);
}

function runSim(s: Scenario, seed: number): Outcome {
  const world = new World(seed);
  const link = { bandwidthBps: 1e9, latencyUs: 50, queueBytesMax: 4 * 2 ** 20 };
  const disk = { sizeBytes: 2 ** 30, writeBytesPerSec: 500 * 2 ** 20, readBytesPerSec: 500 * 2 ** 20, latencyUs: 0, writeErrorRate: 0, badRanges: [], keepData: true };
  const group = groupAddress(1);
  const port = 7700;
  const serverHost = world.addHost("server", link);
  world.attachDisk(serverHost, disk);
  serverHost.disk?.scheduleWrite(0, 0, IMAGE_BYTES);
  const blockCount = IMAGE_BYTES.byteLength / 1024;
  world.install(serverHost, port, (env) => new FrisbeeServer(env, {
    group, port, pacing: PACING, dynamic: false, idleExitUs: 0, progressRequest: null,
    image: { blockCount, byteCount: IMAGE_BYTES.byteLength, uncompressedBytes: RAW.byteLength },
  }));
  const hosts: Host[] = [];
  for (let i = 0; i < s.clients; i++) {
    const host = world.addHost(`c${i}`, link);
    if (s.loss > 0) world.network.setLoss(world.network.downlinks[host.id] as never, { model: "bernoulli", rate: s.loss });
    world.attachDisk(host, disk);
    hosts.push(host);
    const install = (): void => world.install(host, port, (env) => {
      let client: FrisbeeClient | null = null;
      client = new FrisbeeClient(env, {
        group, port, clientId: CLIENT_ID_BASE + i, join2: false, heartbeatIntervalUs: s.heartbeatSec * 1_000_000,
        lastChunkFirst: true,
        chunkData: {
          inflate: (chunk, bytes) => {
            const reply = inflateForDisk({ chunk, bytes: bytes.slice(), zeroFill: false });
            const result = reply.ok
              ? { ok: true as const, writes: reply.writes.map((w) => ({ offsetBytes: w.offsetBytes, data: w.at < 0 ? w.length : new Uint8Array(reply.buffer, w.at, w.length) })) }
              : { ok: false as const, error: reply.error };
            world.call(world.now(), () => client?.inflated(chunk, result));
          },
        },
      });
      return client;
    });
    const late = s.lateJoinMs !== null && i === s.clients - 1;
    if (late) world.call((s.lateJoinMs as number) * 1000, install);
    else install();
  }
  world.run(120_000_000 as Micros);
  const reports = new Map<number, Report[]>();
  for (const e of world.events) if (e.kind === "frisbee.progress") noted(reports, report(e.fields));
  const done = world.events.filter((e) => e.kind === "frisbee.done").length;
  expect(done, "clients done in the simulator").toBe(s.clients);
  return { targets: hosts.map((h) => h.disk?.readNow(0, RAW.byteLength) ?? new Uint8Array(0)), reports };
}

async function runReal(s: Scenario, seed: number): Promise<Outcome> {
  const { port, group } = endpoint();
  const reports = new Map<number, Report[]>();
  const server = await startFrisbeed({
    imagePath: IMAGE, group, port, iface: LO, pacing: PACING, dynamic: false, heartbeatSec: 0, idleExitSec: 0, store: null, log: null,
    also: (kind, fields) => {
      if (kind === "frisbee.progress") noted(reports, report(fields));
    },
  });
  try {
    const paths = Array.from({ length: s.clients }, (_, i) => join(temp.dir, `${s.name.replace(/\W+/g, "-")}-${i}.img`));
    const runs = paths.map(async (targetPath, i) => {
      if (s.lateJoinMs !== null && i === s.clients - 1) await new Promise((r) => setTimeout(r, s.lateJoinMs as number));
      return runFrisbeeClient({
        group, port, iface: LO, targetPath, zeroFill: false, fixedSize: false, heartbeatSec: s.heartbeatSec,
        clientId: CLIENT_ID_BASE + i, seed: seed + i, ...(s.loss > 0 ? { dropRate: s.loss } : {}),
      });
    });
    const outcomes = await Promise.all(runs);
    for (const o of outcomes) expect(o.error).toBeNull();
    return { targets: paths.map((p) => readFileSync(p)), reports };
  } finally {
    server.stop();
  }
}

/** Reports of one client: numbered 1, 2, 3... with no gap, progress never going back, ending with everything written. */
function heartbeatShape(reports: Map<number, Report[]>, s: Scenario): string[] {
  const shapes: string[] = [];
  for (let i = 0; i < s.clients; i++) {
    const list = reports.get(CLIENT_ID_BASE + i) ?? [];
    const numbered = list.every((r, k) => r.seq === k + 1);
    const monotone = list.every((r, k) => k === 0 || (r.bytesWritten >= (list[k - 1] as Report).bytesWritten && r.chunksReceived >= (list[k - 1] as Report).chunksReceived));
    const last = list[list.length - 1];
    shapes.push(s.heartbeatSec === 0 ? `client ${i}: no reports (${list.length})` : `client ${i}: numbered ${numbered}, monotone ${monotone}, ends complete ${last?.bytesWritten === RAW.byteLength}, at least one ${list.length >= 1}`);
  }
  return shapes;
}

const noMulticast = await multicastSkipReason();

describe.skipIf(noMulticast !== null)(titled("the Frisbee machines in the simulator and on loopback multicast", noMulticast), () => {
  for (const [k, s] of SCENARIOS.entries()) {
    it(`${s.name}: both worlds write the source disk exactly, with heartbeats of the same shape`, async () => {
      const sim = runSim(s, 100 + k);
      const real = await runReal(s, 100 + k);
      for (const t of [...sim.targets, ...real.targets]) expect(sameBytes(t, RAW)).toBe(true);
      expect(heartbeatShape(real.reports, s)).toEqual(heartbeatShape(sim.reports, s));
      if (s.heartbeatSec > 0) expect(heartbeatShape(sim.reports, s).every((line) => !line.includes("false"))).toBe(true);
    });
  }
});
