import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { createRng, type Micros } from "../../core/engine/index.js";
import { SwapMachine } from "../../core/experiment/machine.js";
import { parseTmcd } from "../../real/nodeconfig/client.js";
import { startNodeConfigServer, type RunningNodeConfig } from "../../real/nodeconfig/server.js";
import { RealTestbed, type RealNode } from "../../real/experiment/testbed.js";
import { readNodeFile } from "../../real/experiment/node-file.js";
import { ExperimentError } from "../../real/store/index.js";
import type { ExperimentSpec } from "../../core/experiment/spec.js";
import type { RealSwapRunner, SwapContext, WorldResult } from "./swap.js";
import { machineInputs } from "./inputs.js";

export interface RealRunOptions {
  /** Where local nodes keep their disks and logs: one folder per physical node. */
  readonly nodesDir: string;
  /** A file naming real machines (name address [folder]); null: local nodes on loopback addresses. */
  readonly nodesFile: string | null;
  /** A prefix that runs a command on a node, e.g. ["ssh", "{address}", "--"]; empty: on this machine. */
  readonly exec: readonly string[];
  /** An external node-configuration server (host:port); null: one in this process for the swap. */
  readonly tmcd: string | null;
  /**
   * The address of this machine the nodes reach: its node-configuration server listens there and
   * its image servers send from there (127.0.0.1 for local nodes; a bridge's address for nodes in
   * network namespaces; the LAN address for machines). Absent: 127.0.0.1.
   */
  readonly serverAddress?: string;
  readonly syncPort: number;
  /** UDP port of the first image server; the others follow. */
  readonly portBase: number;
  readonly bandwidthBps: number;
  /** The store file, for the sync server's events. */
  readonly db: string;
  /** The argv that runs `testbed` (on this machine: node and the built script). */
  readonly testbed: readonly string[];
}

/** How often a real swap records progress and looks for an interrupt. */
const TICK_MS = 100;

/**
 * Real swaps: the swap machine drives real nodes through RealTestbed, with a node-configuration
 * server answering them from the store. Local nodes are folders on this machine, each known by
 * its own loopback address (127.a.b.c; Linux answers every address of 127/8), so the server knows
 * a node by the address it connects from, as tmcd does.
 */
export function realSwapRunner(o: RealRunOptions): RealSwapRunner {
  return { check: (spec) => void physicalNodes(spec, o), run: (ctx) => runReal(ctx, o) };
}

async function runReal(ctx: SwapContext, o: RealRunOptions): Promise<WorldResult> {
  const { store, spec } = ctx;
  const pnodes = physicalNodes(spec, o);
  const startedMs = performance.now();
  const clockUs = (): Micros => Math.round((performance.now() - startedMs) * 1000);
  ctx.pnodeName = (p) => pnodes[p]?.name ?? `p${p}`;
  store.setNodeHosts(spec.name, new Map(spec.nodes.map((n, i) => [n.name, (pnodes[i] as RealNode).address])));
  store.setServing(spec.name, { images: {}, syncPort: o.syncPort, heartbeatSec: ctx.heartbeatSec });
  let nodeconfig: RunningNodeConfig | null = null;
  const serverAddress = o.serverAddress ?? "127.0.0.1";
  const tmcd = o.tmcd ?? (await (async () => {
    nodeconfig = await startNodeConfigServer({ host: serverAddress, port: 0, store, events: { emit: (kind, fields) => ctx.event(clockUs(), "boss", kind, fields) } });
    return `${serverAddress}:${nodeconfig.port}`;
  })());
  if (parseTmcd(tmcd) === null) throw new ExperimentError(`--tmcd: expected host:port, got "${tmcd}"`);
  let machine: SwapMachine | null = null;
  const m = (): SwapMachine => machine as SwapMachine;
  let timer: NodeJS.Timeout | null = null;
  const input = (fn: () => void): void => {
    fn();
    if (timer !== null) clearTimeout(timer);
    timer = null;
    const wake = m().nextWakeUs();
    if (wake !== Infinity) timer = setTimeout(() => input(() => m().timer(clockUs())), Math.max(0, (wake - clockUs()) / 1000) + 1);
  };
  const served: Record<string, { group: string; port: number; chunks: number }> = {};
  const slot = addressSlot(spec.name);
  const testbed = new RealTestbed(
    {
      experiment: spec.name,
      pnodes,
      nodeNames: spec.nodes.map((n) => n.name),
      images: spec.images.map((i) => ({ name: i.name, file: resolve(i.file ?? "") })),
      groupOf: (image) => `239.192.${slot}.${image + 1}`,
      portOf: (image) => o.portBase + image,
      serverAddress,
      tmcd,
      testbed: o.testbed,
      exec: o.exec,
      setup: spec.setup,
      syncPort: o.syncPort,
      db: o.db === ":memory:" ? null : resolve(o.db),
      bandwidthBps: o.bandwidthBps,
      savedDir: resolve(o.nodesDir, spec.name, "saved"),
      clockUs,
    },
    {
      ...machineInputs(m, input, ctx.touched),
      event: (now, host, kind, fields) => ctx.event(now, host, kind, fields),
      serving: (image, s) => {
        if (s === null) delete served[image];
        else served[image] = s;
        store.setServing(spec.name, { images: { ...served }, syncPort: o.syncPort, heartbeatSec: ctx.heartbeatSec });
      },
      saved: (node, partition, path, bytes) => store.setDelta(spec.name, (spec.nodes[node] as { name: string }).name, partition, path, bytes),
    },
  );
  machine = new SwapMachine(
    ctx.action,
    ctx.plan,
    { command: (cmd) => testbed.obey(cmd) },
    {
      emit: (kind, fields) => {
        // A spare now stands for the node: the node-configuration server must know it by its address.
        if (kind === "node.replaced") store.setNodeHosts(spec.name, new Map([[String(fields.node), (pnodes[fields.to as number] as RealNode).address]]));
        ctx.event(clockUs(), "boss", kind, fields);
      },
    },
    createRng(ctx.seed).fork("swap"),
  );
  try {
    input(() => m().start(clockUs()));
    await until(m, ctx, clockUs, input);
    input(() => m().shutdown(clockUs()));
  } finally {
    if (timer !== null) clearTimeout(timer);
    testbed.close();
    store.setServing(spec.name, { images: {}, syncPort: o.syncPort, heartbeatSec: ctx.heartbeatSec });
    await (nodeconfig as RunningNodeConfig | null)?.close();
  }
  ctx.tick(m(), clockUs(), true);
  return { machine: m(), fingerprint: "-", events: 0, simSeconds: 0, extra: { counters: testbed.counters, tmcd, nodes: pnodes.length } };
}

/** Waits for the outcome, recording progress and passing on an interrupt every tick. */
function until(m: () => SwapMachine, ctx: SwapContext, clockUs: () => Micros, input: (fn: () => void) => void): Promise<void> {
  return new Promise((resolveDone) => {
    let cancelSent = false;
    const tick = setInterval(() => {
      const why = ctx.cancelled();
      if (why !== null && !cancelSent) {
        cancelSent = true;
        input(() => m().cancel(clockUs(), why));
      }
      ctx.tick(m(), clockUs(), false);
      if (m().outcome !== null) {
        clearInterval(tick);
        resolveDone();
      }
    }, TICK_MS);
  });
}

/** The physical nodes: from the node file, else local folders with their own loopback addresses. */
function physicalNodes(spec: ExperimentSpec, o: RealRunOptions): RealNode[] {
  const needed = spec.nodes.length + spec.spares;
  if (o.nodesFile !== null) {
    const listed = readNodeFile(o.nodesFile, resolve(o.nodesDir, spec.name));
    if (listed.length < needed) throw new ExperimentError(`${o.nodesFile} names ${listed.length} nodes; experiment ${spec.name} needs ${needed} (${spec.nodes.length} and ${spec.spares} spares)`);
    return listed.slice(0, needed);
  }
  if (needed > LOCAL_NODES_MAX) throw new ExperimentError(`local nodes: at most ${LOCAL_NODES_MAX} on one machine, experiment ${spec.name} needs ${needed}`);
  const slot = addressSlot(spec.name);
  return Array.from({ length: needed }, (_, i) => ({
    name: `${spec.name}-p${i}`,
    address: `127.${slot}.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`,
    dir: join(resolve(o.nodesDir), spec.name, `p${i}`),
  }));
}

/** Local nodes one experiment may have: its block of loopback addresses, 127.S.0.1 to 127.S.255.254. */
export const LOCAL_NODES_MAX = 65_000;

/** An experiment's block of loopback addresses and multicast groups: 127.S.x.y and 239.192.S.i, S from its name. */
export function addressSlot(name: string): number {
  return 16 + (createHash("sha256").update(name).digest()[0] as number) % 224;
}
