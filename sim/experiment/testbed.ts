import { groupAddress, type EventSink, type Micros, type Rng } from "../../core/engine/index.js";
import type { SwapCommand, SwapInputs } from "../../core/experiment/commands.js";
import type { ImageSizes, SimSpec } from "../../core/experiment/spec.js";
import { frisbeeProgress, FRISBEEPROGRESS } from "../../core/experiment/progress-event.js";
import { FrisbeeClient } from "../../core/frisbee/client.js";
import { CHUNK_BLOCKS, CHUNK_BYTES } from "../../core/frisbee/constants.js";
import { PROGRESS_LEVEL } from "../../core/frisbee/messages.js";
import { pacingForBandwidth } from "../../core/frisbee/rate.js";
import { FrisbeeServer } from "../../core/frisbee/server.js";
import { evenLayout } from "../frisbee/install.js";
import { PLAN_NETWORK } from "../frisbee/plan-network.js";
import type { Host } from "../host.js";
import { World } from "../world.js";
import { drawNodeModels, type NodeModels } from "./models.js";
import { ReplaceableProcess } from "./slot.js";

type Fields = Readonly<Record<string, string | number | boolean>>;

/** What the simulated testbed reports back: the swap machine's inputs, and events for the store. */
export interface SimResults extends SwapInputs {
  /** Events of the world (Frisbee progress with the original's keys, crashes) for the event path. */
  event(now: Micros, host: string, kind: string, fields: Fields): void;
}

export interface SimTestbedOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly spares: number;
  readonly sim: SimSpec;
  readonly images: readonly ImageSizes[];
  readonly imageNames: readonly string[];
  readonly heartbeatSec: number;
  /** Fraction of a node's image data its saved delta holds, for the swap-out and reload costs. */
  readonly deltaFraction: number;
}

/** Image i is served on this port plus i, to multicast group i + 1. */
const BOSS_PORT_BASE = 7_000;
const SEC = 1_000_000;
/** How long a power cycle takes before a physical node is free (release) or reboots (crash). */
const RELEASE_US = 2 * SEC;
const CRASH_DOWN_US = 10 * SEC;
const SYNC_START_US = 500_000;
/** The boss's link: the image servers, the event path and the file server that takes deltas. */
const BOSS_LINK_MBPS = 10_000;

/**
 * The simulated testbed that obeys the swap machine's commands: a boss host serving each image
 * with the core Frisbee server, physical nodes loading it with the core Frisbee client over lossy
 * links (packet by packet, heartbeats included), and models for what is not a protocol: booting,
 * setup (flaky and bad nodes), crashes during a load, and the cost of saving and laying down
 * deltas. Results come back as scheduled events, never from inside a command.
 */
export class SimTestbed {
  readonly world: World;
  private readonly boss: Host;
  private readonly pnodes: Host[] = [];
  private readonly serverSlots: ReplaceableProcess[] = [];
  /** Per physical node, one port per image: a Frisbee client listens on its image's port. */
  private readonly clientSlots: ReplaceableProcess[][] = [];
  /** Bumped by every abort and crash of a physical node, so results of a former attempt are dropped. */
  private readonly epoch: Uint32Array;
  private readonly nodeOf: Int32Array;
  private readonly models: NodeModels;
  private readonly rng: Rng;
  /** `baseWrites`/`baseBytes`: bases laid on a partition by Frisbee; `deltaWrites`/`deltaBytes`: deltas laid over one. */
  readonly counters = { loads: 0, crashes: 0, heartbeats: 0, heartbeatsLost: 0, baseWrites: 0, baseBytes: 0, deltaWrites: 0, deltaBytes: 0 };

  constructor(
    private readonly o: SimTestbedOptions,
    private readonly results: SimResults,
  ) {
    this.world = new World(o.seed);
    this.rng = this.world.rng.fork("testbed");
    const physical = o.nodes + o.spares;
    this.epoch = new Uint32Array(physical);
    this.nodeOf = new Int32Array(physical).fill(-1);
    this.models = drawNodeModels(this.rng.fork("models"), o.nodes, o.sim);
    this.world.network.headerBytes = PLAN_NETWORK.headerBytes;
    this.boss = this.world.addHost("boss", { bandwidthBps: BOSS_LINK_MBPS * 1e6, latencyUs: PLAN_NETWORK.latencyUs, queueBytesMax: PLAN_NETWORK.serverQueueBytes });
    this.world.network.downlinks[0]!.spec = { bandwidthBps: BOSS_LINK_MBPS * 1e6, latencyUs: PLAN_NETWORK.latencyUs, queueBytesMax: PLAN_NETWORK.serverQueueBytes };
    o.images.forEach((_, i) => this.world.install(this.boss, BOSS_PORT_BASE + i, (env) => (this.serverSlots[i] = new ReplaceableProcess(env))));
    for (let p = 0; p < physical; p++) this.addPnode(p);
  }

  /** How many physical nodes were drawn to misbehave, by kind. */
  get troubled(): { flaky: number; bad: number; crash: number } {
    return { flaky: this.models.flaky.length, bad: this.models.bad.length, crash: this.models.crash.length };
  }

  /** Runs `fn` inside the simulation now (a command or a start must not run outside the engine). */
  call(atUs: Micros, fn: () => void): void {
    this.world.call(Math.max(atUs, this.world.now()), fn);
  }

  obey(cmd: SwapCommand): void {
    switch (cmd.type) {
      case "serve-image":
        return this.serveImage(cmd.image);
      case "stop-image":
        return this.serverSlots[cmd.image]?.replace(null);
      case "load":
        return this.load(cmd.node, cmd.pnode, cmd.attempt, cmd.partitions.map((p) => ({ image: p.image, delta: p.delta !== null })));
      case "boot":
        return this.later(cmd.pnode, this.models.bootUs(this.rng, cmd.pnode), () => this.results.bootDone(this.world.now(), cmd.node, cmd.attempt, true, ""));
      case "setup": {
        const passed = this.models.setupPasses(cmd.pnode, cmd.attempt);
        const reason = passed ? "" : this.models.isBad(cmd.pnode) ? "exit 1: the node's setup script fails every time" : "exit 1: setup failed (flaky node)";
        return this.later(cmd.pnode, this.models.setupUs(this.rng, cmd.pnode), () => this.results.setupDone(this.world.now(), cmd.node, cmd.attempt, passed, reason));
      }
      case "abort":
        return this.abort(cmd.pnode);
      case "start-sync":
        return this.later(cmd.pnode, SYNC_START_US, () => this.results.syncStarted(this.world.now(), true, ""));
      case "stop-sync":
        return;
      case "save":
        return this.later(cmd.pnode, this.saveUs(cmd.partitions.map((p) => p.image)), () => this.results.saveDone(this.world.now(), cmd.node, cmd.attempt, true, ""));
      case "release":
        this.abort(cmd.pnode);
        return this.later(cmd.pnode, RELEASE_US, () => this.results.released(this.world.now(), cmd.node));
    }
  }

  private addPnode(p: number): void {
    const s = this.o.sim;
    const host = this.world.addHost(`pnode${p}`, { bandwidthBps: s.clientMbps * 1e6, latencyUs: PLAN_NETWORK.latencyUs, queueBytesMax: PLAN_NETWORK.clientQueueBytes });
    const id = host.id;
    this.world.network.downlinks[id]!.spec = { bandwidthBps: s.clientMbps * 1e6, latencyUs: PLAN_NETWORK.latencyUs, queueBytesMax: PLAN_NETWORK.clientQueueBytes };
    if (s.loss > 0) {
      this.world.network.setLoss(this.world.network.uplinks[id]!, { model: "bernoulli", rate: s.loss });
      this.world.network.setLoss(this.world.network.downlinks[id]!, { model: "bernoulli", rate: s.loss });
    }
    const dataBytes = Math.max(...this.o.images.map((i) => i.uncompressedBytes));
    this.world.attachDisk(host, { sizeBytes: dataBytes * 2 + CHUNK_BYTES, writeBytesPerSec: s.diskMiBs * 2 ** 20, readBytesPerSec: 2 * s.diskMiBs * 2 ** 20, latencyUs: 100, writeErrorRate: 0, badRanges: [], keepData: false });
    const meanRatio = this.o.images.reduce((sum, i) => sum + i.compressedBytes / i.uncompressedBytes, 0) / this.o.images.length;
    this.world.attachCpu(host, { cores: 1, unitsPerSec: { inflate: s.inflateMiBs * 2 ** 20 * meanRatio } });
    this.pnodes.push(host);
    const slots: ReplaceableProcess[] = [];
    this.clientSlots.push(slots);
    this.o.images.forEach((_, i) => this.world.install(host, BOSS_PORT_BASE + i, (env) => (slots[i] = new ReplaceableProcess(env))));
  }

  private serveImage(image: number): void {
    const size = this.o.images[image] as ImageSizes;
    const layout = evenLayout(size.compressedBytes, size.uncompressedBytes);
    const name = this.o.imageNames[image] as string;
    const events: EventSink = { emit: (kind, fields) => this.serverEvent(name, kind, fields) };
    this.serverSlots[image]?.replace(
      (env) =>
        new FrisbeeServer(env, {
          group: groupAddress(image + 1),
          port: BOSS_PORT_BASE + image,
          image: { blockCount: layout.chunks * CHUNK_BLOCKS, byteCount: layout.chunks * CHUNK_BYTES, uncompressedBytes: size.uncompressedBytes },
          pacing: pacingForBandwidth(this.o.sim.serverMbps * 1e6),
          dynamic: false,
          idleExitUs: 0,
          progressRequest: null,
        }),
      events,
    );
    this.call(this.world.now(), () => this.results.imageServing(this.world.now(), image, true, ""));
  }

  /** A heartbeat reaching an image server becomes FRISBEEPROGRESS with the original's keys, and progress for the machine. */
  private serverEvent(imageName: string, kind: string, fields: Fields): void {
    if (kind === "frisbee.report-gap") this.counters.heartbeatsLost += Number(fields.missing);
    if (kind !== "frisbee.progress") return;
    this.counters.heartbeats++;
    const p = (fields.from as number) - 1;
    const node = p >= 0 && p < this.nodeOf.length ? (this.nodeOf[p] as number) : -1;
    if (node < 0) return;
    const now = this.world.now();
    const hb = frisbeeProgress(node, imageName, fields);
    this.results.event(now, `pnode${p}`, FRISBEEPROGRESS, hb.fields);
    this.results.progress(now, node, hb.bytesWritten, hb.secondsLeft);
  }

  private load(node: number, pnode: number, attempt: number, parts: readonly { image: number; delta: boolean }[]): void {
    this.counters.loads++;
    this.nodeOf[pnode] = node;
    const epoch = this.epoch[pnode] as number;
    const host = this.pnodes[pnode] as Host;
    if (host.state === "crashed") this.world.restart(host);
    if (this.models.crashesDuringLoad(pnode, attempt)) this.scheduleCrash(node, pnode, attempt, parts);
    this.loadPart(node, pnode, attempt, epoch, parts, 0);
  }

  /** Loads partition `k` over Frisbee, lays its delta over it if it has one, then the next. */
  private loadPart(node: number, pnode: number, attempt: number, epoch: number, parts: readonly { image: number; delta: boolean }[], k: number): void {
    if (this.epoch[pnode] !== epoch) return;
    const part = parts[k];
    if (part === undefined) return this.results.loadDone(this.world.now(), node, attempt, true, "");
    const size = this.o.images[part.image] as ImageSizes;
    const slot = this.clientSlots[pnode]?.[part.image];
    if (slot === undefined) return;
    const layout = evenLayout(size.compressedBytes, size.uncompressedBytes);
    const events: EventSink = {
      emit: (kind) => {
        if (kind !== "frisbee.done" && kind !== "frisbee.failed") return;
        const ok = kind === "frisbee.done";
        this.world.call(this.world.now(), () => {
          if (this.epoch[pnode] !== epoch) return;
          slot.replace(null);
          if (!ok) return this.results.loadDone(this.world.now(), node, attempt, false, "the Frisbee client failed");
          this.counters.baseWrites++;
          this.counters.baseBytes += size.uncompressedBytes;
          // (Through the world's queue even without a delta, as before: the same seed keeps its trace.)
          if (!part.delta) return this.later(pnode, 0, () => this.loadPart(node, pnode, attempt, epoch, parts, k + 1));
          // The delta alone goes over the base just written: the base is not laid a second time.
          this.later(pnode, this.deltaApplyUs(size.uncompressedBytes), () => {
            this.counters.deltaWrites++;
            this.counters.deltaBytes += this.deltaBytesOf(size.uncompressedBytes);
            this.loadPart(node, pnode, attempt, epoch, parts, k + 1);
          });
        });
      },
    };
    slot.replace(
      (env) =>
        new FrisbeeClient(env, {
          group: groupAddress(part.image + 1),
          port: BOSS_PORT_BASE + part.image,
          clientId: pnode + 1,
          join2: false,
          layout,
          heartbeatIntervalUs: this.o.heartbeatSec * 1_000_000,
          heartbeatLevel: PROGRESS_LEVEL.summary,
        }),
      events,
    );
  }

  /** The node goes down partway through its load and comes back after a while: the testbed sees it reboot. */
  private scheduleCrash(node: number, pnode: number, attempt: number, parts: readonly { image: number }[]): void {
    const bytes = parts.reduce((sum, p) => sum + (this.o.images[p.image] as ImageSizes).uncompressedBytes, 0);
    const loadUs = (bytes / (this.o.sim.diskMiBs * 2 ** 20)) * SEC;
    const atUs = this.world.now() + Math.round(loadUs * (0.2 + 0.6 * this.rng.next()));
    const epoch = this.epoch[pnode] as number;
    this.world.call(atUs, () => {
      if (this.epoch[pnode] !== epoch) return;
      const host = this.pnodes[pnode] as Host;
      this.counters.crashes++;
      this.abort(pnode);
      this.world.crash(host);
      this.results.event(this.world.now(), host.name, "node.crash", { node, attempt });
      this.world.call(this.world.now() + CRASH_DOWN_US, () => {
        this.world.restart(host);
        this.results.loadDone(this.world.now(), node, attempt, false, `${host.name} crashed and rebooted during its load`);
      });
    });
  }

  private abort(pnode: number): void {
    this.epoch[pnode] = (this.epoch[pnode] as number) + 1;
    for (const slot of this.clientSlots[pnode] ?? []) if (slot.running) slot.replace(null);
  }

  /** Runs `fn` after `delayUs` unless the physical node is aborted or crashes first. */
  private later(pnode: number, delayUs: Micros, fn: () => void): void {
    const epoch = this.epoch[pnode] as number;
    this.world.call(this.world.now() + Math.max(0, Math.round(delayUs)), () => {
      if (this.epoch[pnode] === epoch) fn();
    });
  }

  /**
   * Swap-out cost of one node: read its data to compare with the image's signature, then upload
   * the changed fraction to the boss over the node's link. (A coarse model until the delta work's
   * cost model lands: disk read and link time, no hashing or compression cost.)
   */
  private saveUs(images: readonly number[]): Micros {
    const bytes = images.reduce((sum, i) => sum + (this.o.images[i] as ImageSizes).uncompressedBytes, 0);
    const readUs = (bytes / (2 * this.o.sim.diskMiBs * 2 ** 20)) * SEC;
    const uploadUs = ((bytes * this.o.deltaFraction * 8) / (this.o.sim.clientMbps * 1e6)) * SEC;
    return readUs + uploadUs;
  }

  /** Laying a saved delta over a freshly loaded base: fetch it over the node's link and write it. */
  private deltaBytesOf(bytes: number): number {
    return Math.round(bytes * this.o.deltaFraction);
  }

  private deltaApplyUs(bytes: number): Micros {
    const delta = bytes * this.o.deltaFraction;
    return ((delta * 8) / (this.o.sim.clientMbps * 1e6)) * SEC + (delta / (this.o.sim.diskMiBs * 2 ** 20)) * SEC;
  }
}
