import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { Micros } from "../../core/engine/index.js";
import type { SwapCommand, SwapInputs } from "../../core/experiment/commands.js";
import type { PartitionPlan } from "../../core/experiment/plan.js";
import { frisbeeProgress, FRISBEEPROGRESS } from "../../core/experiment/progress-event.js";
import { pacingForBandwidth } from "../../core/frisbee/rate.js";
import { startFrisbeed, type Frisbeed } from "../frisbee/server.js";
import { recordNodeLoad } from "../image/swap.js";
import { diskStateNode, openDiskImageStore } from "../store/index.js";
import { NodeProcesses, type ChildOutcome } from "./processes.js";
import { startDetached, stopDetached } from "./detached.js";

type Fields = Readonly<Record<string, string | number | boolean>>;

/** A physical node: a name, the address it is known by, and a folder that holds its disks and logs. */
export interface RealNode {
  readonly name: string;
  readonly address: string;
  readonly dir: string;
}

export interface RealImage {
  readonly name: string;
  readonly file: string;
}

/** Where the swap's image servers listen, for the node-configuration server to tell nodes. */
export interface ServedImage {
  readonly group: string;
  readonly port: number;
  readonly chunks: number;
}

export interface RealResults extends SwapInputs {
  event(timeUs: Micros, host: string, kind: string, fields: Fields): void;
  /** An image server came up or went away: the node-configuration answers change. */
  serving(image: string, served: ServedImage | null): void;
  /** A node's disk was saved: where, and how big, for the next swap-in to lay it back. */
  saved(node: number, partition: number, path: string, bytes: number): void;
}

export interface RealTestbedOptions {
  readonly experiment: string;
  /** Physical nodes: one per experiment node, then the spares. */
  readonly pnodes: readonly RealNode[];
  readonly nodeNames: readonly string[];
  readonly images: readonly RealImage[];
  /** Multicast group and UDP port of image i. */
  readonly groupOf: (image: number) => string;
  readonly portOf: (image: number) => number;
  /** This machine's address the nodes reach: the image servers send from it. */
  readonly serverAddress: string;
  /** Where nodes ask what to load (host:port). */
  readonly tmcd: string;
  /** The argv that runs `testbed` on a node (the node's command, then these). */
  readonly testbed: readonly string[];
  /** A prefix that runs a command on a node ({address} and {name} replaced); empty for this machine. */
  readonly exec: readonly string[];
  readonly setup: string | null;
  readonly syncPort: number;
  /** The store the sync server records its barrier events in, or null. */
  readonly db: string | null;
  readonly bandwidthBps: number;
  /** Where saved deltas and the images' signatures go. */
  readonly savedDir: string;
  readonly clockUs: () => Micros;
}

/** How often the sync server's port is tried while it starts. */
const SYNC_PROBE_MS = 100;

/**
 * The testbed's side on real nodes: it obeys the swap machine's commands with processes. Image
 * servers run in this process (one per image, heartbeats turned into FRISBEEPROGRESS events with
 * the original's keys); a node loads, boots, sets up and saves by running `testbed` commands as
 * that node (`frisbee --tmcd`, `tmcc`, `swapout-node`, `swapin-node`), each in its own process group so an abort
 * kills it; a node's sync server is a detached `testbed syncd` that outlives this process until
 * the swap-out stops it. Results come back on later turns of the event loop, never inside a command.
 */
export class RealTestbed {
  private readonly children = new NodeProcesses();
  private readonly servers = new Map<number, Frisbeed>();
  private readonly byAddress = new Map<string, number>();
  /** Node (experiment index) each physical node stands for now. */
  private readonly nodeOf: Int32Array;
  /** `baseWrites`: partitions the base was laid on (by Frisbee); `deltaWrites`: deltas laid over one. */
  readonly counters = { loads: 0, heartbeats: 0, heartbeatsLost: 0, children: 0, baseWrites: 0, deltaWrites: 0 };

  constructor(
    private readonly o: RealTestbedOptions,
    private readonly results: RealResults,
  ) {
    o.pnodes.forEach((p, i) => {
      this.byAddress.set(p.address, i);
      mkdirSync(p.dir, { recursive: true });
    });
    this.nodeOf = new Int32Array(o.pnodes.length).fill(-1);
  }

  obey(cmd: SwapCommand): void {
    switch (cmd.type) {
      case "serve-image":
        return void this.serve(cmd.image);
      case "stop-image":
        return this.stopImage(cmd.image);
      case "load":
        return this.load(cmd.node, cmd.pnode, cmd.attempt, cmd.partitions, 0);
      case "boot":
        return this.boot(cmd.node, cmd.pnode, cmd.attempt);
      case "setup":
        return this.setup(cmd.node, cmd.pnode, cmd.attempt);
      case "abort":
        return this.children.kill(cmd.pnode);
      case "start-sync":
        return void this.startSync(cmd.pnode);
      case "stop-sync":
        return stopDetached(join(this.pnode(cmd.pnode).dir, "syncd.pid"));
      case "save":
        return this.save(cmd.node, cmd.pnode, cmd.attempt, cmd.partitions, 0);
      case "release":
        this.children.kill(cmd.pnode);
        stopDetached(join(this.pnode(cmd.pnode).dir, "syncd.pid"));
        return this.later(() => this.results.released(this.o.clockUs(), cmd.node));
    }
  }

  /** Stops everything this process runs (servers, node processes); detached sync servers stay. */
  close(): void {
    this.children.killAll();
    for (const image of [...this.servers.keys()]) this.stopImage(image);
  }

  private pnode(p: number): RealNode {
    const node = this.o.pnodes[p];
    if (node === undefined) throw new Error(`no physical node ${p}`);
    return node;
  }

  private later(fn: () => void): void {
    setImmediate(fn);
  }

  private async serve(image: number): Promise<void> {
    const img = this.o.images[image] as RealImage;
    try {
      const d = await startFrisbeed({
        imagePath: img.file,
        group: this.o.groupOf(image),
        port: this.o.portOf(image),
        iface: this.o.serverAddress,
        pacing: pacingForBandwidth(this.o.bandwidthBps),
        dynamic: false,
        heartbeatSec: 0,
        idleExitSec: 0,
        store: null,
        log: null,
        also: (kind, fields) => this.serverEvent(image, kind, fields),
      });
      this.servers.set(image, d);
      const served = { group: this.o.groupOf(image), port: this.o.portOf(image), chunks: Math.ceil(statSync(img.file).size / 2 ** 20) };
      this.results.serving(img.name, served);
      this.results.event(this.o.clockUs(), "boss", "frisbee.serving", { image: img.name, group: served.group, port: served.port, chunks: served.chunks });
      this.results.imageServing(this.o.clockUs(), image, true, "");
    } catch (error) {
      this.results.imageServing(this.o.clockUs(), image, false, (error as Error).message);
    }
  }

  private stopImage(image: number): void {
    const d = this.servers.get(image);
    if (d === undefined) return;
    this.servers.delete(image);
    d.stop();
    this.results.serving((this.o.images[image] as RealImage).name, null);
  }

  /** A heartbeat at an image server: FRISBEEPROGRESS with the original's keys, and progress for the machine. */
  private serverEvent(image: number, kind: string, fields: Fields): void {
    if (kind === "frisbee.report-gap") this.counters.heartbeatsLost += Number(fields.missing);
    if (kind !== "frisbee.progress") return;
    this.counters.heartbeats++;
    const ip = this.servers.get(image)?.peerIp(fields.from as number);
    const p = ip === undefined ? undefined : this.byAddress.get(ip);
    const node = p === undefined ? -1 : (this.nodeOf[p] as number);
    if (p === undefined || node < 0) return;
    const now = this.o.clockUs();
    const hb = frisbeeProgress(node, (this.o.images[image] as RealImage).name, fields);
    this.results.event(now, this.pnode(p).name, FRISBEEPROGRESS, hb.fields);
    this.results.progress(now, node, hb.bytesWritten, hb.secondsLeft);
  }

  /** Runs `testbed ARGS...` as physical node `p`; the outcome comes back once, unless aborted. */
  private run(p: number, what: string, args: readonly string[], done: (outcome: ChildOutcome) => void, env: NodeJS.ProcessEnv = {}): void {
    const node = this.pnode(p);
    const prefix = this.o.exec.map((w) => w.replaceAll("{address}", node.address).replaceAll("{name}", node.name));
    this.counters.children++;
    this.children.run(p, [...prefix, ...args], { cwd: node.dir, env, logPath: join(node.dir, `${what}.log`), pidPath: join(node.dir, `${what}.pid`) }, (outcome) => this.later(() => done(outcome)));
  }

  private tb(...args: string[]): string[] {
    return [...this.o.testbed, ...args];
  }

  private diskOf(p: number, partition: number): string {
    return join(this.pnode(p).dir, `part${partition}.img`);
  }

  /**
   * Loads partition k over Frisbee (the node asks the node-configuration server what), then the
   * next. A partition with saved state gets its delta laid over the base Frisbee just wrote
   * (`swapin-node --loaded`: checked to be the base the delta was made against), so the base is
   * written once; one without is recorded as holding the base alone, so the next swap-out saves a
   * delta against it.
   */
  private load(node: number, p: number, attempt: number, parts: readonly PartitionPlan[], k: number): void {
    this.nodeOf[p] = node;
    const part = parts[k];
    if (part === undefined) return this.results.loadDone(this.o.clockUs(), node, attempt, true, "");
    if (k === 0) this.counters.loads++;
    const address = this.pnode(p).address;
    const fail = (why: string): void => this.results.loadDone(this.o.clockUs(), node, attempt, false, `partition ${part.partition}: ${why}`);
    // Under a saved delta the base's free space is written as zeros, as the disk was when it was saved.
    const zeros = part.delta === null ? [] : ["--zero-fill"];
    this.run(p, "load", this.tb("frisbee", "--tmcd", this.o.tmcd, "-i", address, "--part", String(part.partition), ...zeros, this.diskOf(p, part.partition)), (r) => {
      if (!r.ok) return fail(r.reason);
      this.counters.baseWrites++;
      const db = this.o.db;
      if (db === null) return part.delta === null ? this.load(node, p, attempt, parts, k + 1) : fail("restoring saved disk state needs a store file (--db)");
      const key = diskStateNode(this.o.experiment, this.o.nodeNames[node] as string);
      if (part.delta !== null) return this.restore(node, p, attempt, parts, k, db, key);
      recordNodeLoad({ db, node: key, partition: part.partition, image: (this.o.images[part.image] as RealImage).file, dir: this.o.savedDir }).then(
        () => this.load(node, p, attempt, parts, k + 1),
        (error: unknown) => fail(`recording the load in the store: ${(error as Error).message}`),
      );
    });
  }

  /** The saved disk state: the node's delta, laid by `swapin-node --loaded` over the base Frisbee wrote. */
  private restore(node: number, p: number, attempt: number, parts: readonly PartitionPlan[], k: number, db: string, key: string): void {
    const part = parts[k] as PartitionPlan;
    if (part.delta !== null && !existsSync(part.delta)) return this.results.loadDone(this.o.clockUs(), node, attempt, false, `partition ${part.partition}: its saved disk ${part.delta} is missing`);
    const loaded = (this.o.images[part.image] as RealImage).file;
    this.run(p, "restore", this.tb(...restoreCommand(db, key, part.partition, this.diskOf(p, part.partition), this.o.savedDir, loaded)), (r) => {
      if (!r.ok) return this.results.loadDone(this.o.clockUs(), node, attempt, false, `partition ${part.partition}: restoring the saved disk: ${r.reason}`);
      this.counters.deltaWrites++;
      this.load(node, p, attempt, parts, k + 1);
    });
  }

  /** Booting: the node comes up and asks where its sync server is, writing its syncserver file. */
  private boot(node: number, p: number, attempt: number): void {
    const n = this.pnode(p);
    this.run(p, "boot", this.tb("tmcc", "syncserver", "--tmcd", this.o.tmcd, "-i", n.address, "--file", join(n.dir, "syncserver")), (r) =>
      this.results.bootDone(this.o.clockUs(), node, attempt, r.ok, r.reason),
    );
  }

  /** The experiment's setup command on the node, then the node reports ready (tmcc ready), as a node's startup does. */
  private setup(node: number, p: number, attempt: number): void {
    const n = this.pnode(p);
    const name = this.o.nodeNames[node] as string;
    const ready = (): void =>
      this.run(p, "ready", this.tb("tmcc", "ready", "--tmcd", this.o.tmcd, "-i", n.address), (r) => this.results.setupDone(this.o.clockUs(), node, attempt, r.ok, r.ok ? "" : `ready: ${r.reason}`));
    if (this.o.setup === null) return ready();
    const env = { TESTBED_NODE: name, TESTBED_ADDRESS: n.address, TESTBED_TMCD: this.o.tmcd, TESTBED_EXPERIMENT: this.o.experiment };
    const prefix = this.o.exec.length === 0 ? [] : ["env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
    this.run(p, "setup", [...prefix, "sh", "-c", this.o.setup.replaceAll("{node}", name)], (r) => (r.ok ? ready() : this.results.setupDone(this.o.clockUs(), node, attempt, false, r.reason)), env);
  }

  private async startSync(p: number): Promise<void> {
    const n = this.pnode(p);
    const args = this.tb("syncd", "-p", String(this.o.syncPort), "--host", n.address, ...(this.o.db === null ? [] : ["--db", this.o.db, "--experiment", this.o.experiment]));
    const started = startDetached([...this.o.exec.map((w) => w.replaceAll("{address}", n.address).replaceAll("{name}", n.name)), ...args], n.dir, join(n.dir, "syncd.pid"), join(n.dir, "syncd.log"));
    if (!started.ok) return this.results.syncStarted(this.o.clockUs(), false, started.reason);
    for (;;) {
      if (await canConnect(n.address, this.o.syncPort)) return this.results.syncStarted(this.o.clockUs(), true, "");
      if (!started.alive()) return this.results.syncStarted(this.o.clockUs(), false, `syncd exited: ${lastLine(join(n.dir, "syncd.log"))}`);
      await new Promise((r) => setTimeout(r, SYNC_PROBE_MS));
    }
  }

  /**
   * Saves partition k of the node's disk as a delta against the image it was loaded from
   * (`swapout-node` on the node: the image's one signature, the delta recorded in the store's
   * disk_deltas and node_disks), then the next; each is what the next swap-in lays back.
   */
  private save(node: number, p: number, attempt: number, parts: readonly PartitionPlan[], k: number): void {
    const part = parts[k];
    if (part === undefined) return this.results.saveDone(this.o.clockUs(), node, attempt, true, "");
    const db = this.o.db;
    if (db === null) return this.results.saveDone(this.o.clockUs(), node, attempt, false, "saving disk state needs a store file (--db)");
    const key = diskStateNode(this.o.experiment, this.o.nodeNames[node] as string);
    mkdirSync(this.o.savedDir, { recursive: true });
    this.run(p, "save", this.tb(...saveCommand(db, key, part.partition, this.diskOf(p, part.partition), this.o.savedDir)), (r) => {
      if (!r.ok) return this.results.saveDone(this.o.clockUs(), node, attempt, false, `partition ${part.partition}: ${r.reason}`);
      const saved = savedDelta(db, key, part.partition);
      if (saved === null) return this.results.saveDone(this.o.clockUs(), node, attempt, false, `partition ${part.partition}: the store records no delta for ${key}`);
      this.results.saved(node, part.partition, saved.path, saved.bytes);
      this.save(node, p, attempt, parts, k + 1);
    });
  }
}


/** The save step: the delta of the node's disk against its recorded image, recorded in the store. */
export function saveCommand(db: string, node: string, partition: number, disk: string, dir: string): string[] {
  return ["swapout-node", "--db", db, "--node", node, "--partition", String(partition), "--disk", disk, "--dir", dir];
}

/** The restore step: the node's delta over the image `loaded` that Frisbee has just written (zeros over free space included), so every byte is as it was saved. */
export function restoreCommand(db: string, node: string, partition: number, disk: string, dir: string, loaded: string): string[] {
  return ["swapin-node", "--db", db, "--node", node, "--partition", String(partition), "--target", disk, "--dir", dir, "--loaded", loaded];
}

/** The delta the store now names for a node's partition, with its size. */
function savedDelta(db: string, node: string, partition: number): { path: string; bytes: number } | null {
  const store = openDiskImageStore(db);
  try {
    const held = store.nodeDisk(node, partition);
    const delta = held?.delta === null || held === undefined ? undefined : store.delta(held.delta);
    return delta === undefined ? null : { path: delta.path, bytes: delta.bytes };
  } finally {
    store.close();
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function lastLine(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").pop()?.slice(0, 200) ?? "";
  } catch {
    return "";
  }
}
