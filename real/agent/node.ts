import { createHash } from "node:crypto";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, normalize, sep } from "node:path";
import * as tar from "tar";
import {
  MISSING,
  PROCESS_NAME_PATTERN,
  assignPorts,
  checkPortRange,
  errorReply,
  okReply,
  rangesOverlap,
  type ControlMessage,
  type Json,
  type JsonObject,
  type PortRange,
  type ProcessSpec,
  type WatchdogConfig,
} from "../../core/service/index.js";
import { epochNowUs } from "../runtime/clock.js";
import { readFileChunk } from "./file-chunk.js";
import { LOG_CHUNK_BYTES, listLogs, readLogChunk } from "./logs.js";
import type { PeerMesh } from "./peer-mesh.js";
import { PEERS_MAX, type PeerAddress } from "./peers.js";
import { Supervisor, type SupervisedSet } from "./supervisor.js";

/** Limits on what a controller may make an agent hold. */
export const STAGED_TARBALL_BYTES_MAX = 1 << 30;
export const RELEASES_KEPT = 3;
export const HEALTHY_MS_DEFAULT = 2_000;
export const HEALTHY_MS_MAX = 600_000;
/** A chunk of a service file read for a repair. */
export const READ_CHUNK_BYTES = 1 << 20;
export const PROTOCOL_DEFAULT = 1;
/** The usable peers' node file, in the agent's directory, and the variable that names it to the processes. */
export const USABLE_PEERS_FILE = "peers.live";
export const PEERS_FILE_ENV = "TESTBED_PEERS_FILE";
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

interface ServiceState {
  experiment: string;
  ports: PortRange;
  processes: ProcessSpec[];
  /** The service's protocol version: peers of another version ignore this node's heartbeats. */
  protocol?: number;
}

interface AgentState {
  version: string | null;
  previous: string | null;
  service: ServiceState | null;
  /** Port ranges of every experiment served on this node, so two never collide. */
  experiments: Record<string, PortRange>;
  releases: string[];
  /** The tarballs of the current release, so an update knows which changed. */
  tarballs?: { name: string; sha256: string; restart: boolean }[];
  /** The service each kept release was put in place with, so a rollback restores that one. */
  services?: Record<string, ServiceState>;
  /** The node file's nodes and this node's index in it, for heartbeats. */
  peers?: { list: PeerAddress[]; self: number };
  /** Larger at every start (decimal), so peers can tell new heartbeats from replayed ones. */
  incarnation?: string;
}

export interface NodeAgentOptions {
  /** The watchdog's limits (tests shorten the backoff and the report interval). */
  readonly watchdog?: Partial<WatchdogConfig>;
}

/**
 * One node's agent: the service's files (staged tarballs, releases, a `current` link switched
 * atomically), its processes under the supervisor, checksums and logs. Every request is checked
 * before anything changes; a failed apply leaves the node as it was or on the files it was asked
 * for, never half-written (releases are extracted under a temporary name, then renamed).
 */
export class NodeAgent {
  readonly supervisor: Supervisor;
  private state: AgentState;
  /** This start's incarnation (see AgentState.incarnation). */
  readonly incarnation: bigint;
  private mesh: PeerMesh | null = null;

  constructor(
    readonly dir: string,
    readonly node: string,
    private readonly log: (line: string) => void,
    options: NodeAgentOptions = {},
  ) {
    for (const sub of ["staged", "releases", "logs"]) mkdirSync(join(dir, sub), { recursive: true });
    this.state = this.load();
    // A state file edited by hand may hold anything here: only a decimal counts.
    const kept = this.state.incarnation;
    const before = typeof kept === "string" && /^\d{1,19}$/.test(kept) ? BigInt(kept) : -1n;
    const clock = BigInt(epochNowUs());
    this.incarnation = clock > before ? clock : before + 1n;
    this.state.incarnation = String(this.incarnation);
    this.save();
    this.supervisor = new Supervisor(join(dir, "logs"), log, options.watchdog);
  }

  /** Starts the service recorded in the state, if any (the agent restarted). */
  resume(): void {
    if (this.state.service !== null && this.state.version !== null) this.supervisor.start(this.supervisedSet(this.state.service));
  }

  /** The heartbeat mesh: told the service's protocol and the peers this node had. */
  async attachPeers(mesh: PeerMesh): Promise<void> {
    this.mesh = mesh;
    if (this.state.service !== null) mesh.link.setProtocol(this.state.service.protocol ?? PROTOCOL_DEFAULT);
    const peers = this.state.peers;
    if (peers !== undefined) await mesh.setPeers(peers.list, peers.self).catch((e: Error) => this.log(`peers.error why=${JSON.stringify(e.message)}`));
  }

  async handle(m: ControlMessage): Promise<ControlMessage> {
    switch (m.kind) {
      case "status":
        return okReply(this.status());
      case "stage":
        return this.stage(m.fields, m.blob);
      case "apply":
        return this.apply(m.fields);
      case "checksum":
        return this.checksum(m.fields["files"] as string[]);
      case "logs":
        return this.logs(m.fields);
      case "restart":
        return okReply({ restarted: await this.supervisor.restartAll() });
      case "peers":
        return this.setPeers(m.fields);
      case "read":
        return this.read(m.fields["file"] as string, m.fields["offset"] as number);
      case "repair":
        return this.repair(m.fields["file"] as string, m.fields["sha256"] as string);
      default:
        return errorReply(`not a request: ${m.kind}`);
    }
  }

  status(): JsonObject {
    return {
      node: this.node,
      version: this.state.version,
      previous: this.state.previous,
      experiment: this.state.service?.experiment ?? null,
      processes: this.supervisor.status() as unknown as Json,
      restarts: this.supervisor.restarts,
      healthy: this.supervisor.allRunning,
      watchdog: this.supervisor.watchdogReport(),
      protocol: this.state.service === null ? null : (this.state.service.protocol ?? PROTOCOL_DEFAULT),
      peers: (this.mesh?.status() ?? null) as unknown as Json,
    };
  }

  private load(): AgentState {
    const path = join(this.dir, "state.json");
    if (!existsSync(path)) return { version: null, previous: null, service: null, experiments: {}, releases: [] };
    try {
      return JSON.parse(readFileSync(path, "utf8")) as AgentState;
    } catch (error) {
      throw new Error(`${path}: the agent's state is not valid JSON (${(error as Error).message}); move it aside to start afresh`);
    }
  }

  private save(): void {
    const path = join(this.dir, "state.json");
    writeFileSync(`${path}.tmp`, JSON.stringify(this.state, null, 1));
    renameSync(`${path}.tmp`, path);
  }

  private stage(f: JsonObject, blob: Uint8Array): ControlMessage {
    const sha = f["sha256"] as string;
    const offset = f["offset"] as number;
    const total = f["total"] as number;
    if (!SHA256_PATTERN.test(sha)) return errorReply("stage: field sha256: expected 64 hex digits");
    if (total > STAGED_TARBALL_BYTES_MAX || offset + blob.byteLength > total) return errorReply(`stage: ${offset}+${blob.byteLength} bytes of ${total} (at most ${STAGED_TARBALL_BYTES_MAX})`);
    const final = join(this.dir, "staged", sha);
    if (existsSync(final)) return okReply({ staged: true, sha256: sha });
    const part = `${final}.part`;
    if (offset === 0) rmSync(part, { force: true });
    else if (!existsSync(part) || statSync(part).size !== offset) return errorReply(`stage: chunk at ${offset} does not follow what is staged of ${sha.slice(0, 12)}`);
    const fd = openSync(part, "a");
    try {
      writeSync(fd, blob);
    } finally {
      closeSync(fd);
    }
    if (offset + blob.byteLength < total) return okReply({ staged: false, bytes: offset + blob.byteLength });
    const digest = createHash("sha256").update(readFileSync(part)).digest("hex");
    if (digest !== sha) {
      rmSync(part, { force: true });
      return errorReply(`stage: ${f["tarball"]} arrived with sha256 ${digest.slice(0, 12)}, expected ${sha.slice(0, 12)}; dropped`);
    }
    renameSync(part, final);
    return okReply({ staged: true, sha256: sha });
  }

  private parseService(raw: Json | undefined): ServiceState | string | null {
    if (raw === undefined) return null;
    const s = raw as JsonObject;
    const ports = s["ports"] as JsonObject | undefined;
    const range = { first: Number(ports?.["first"]), last: Number(ports?.["last"]) };
    if (typeof s["experiment"] !== "string" || !VERSION_PATTERN.test(s["experiment"])) return "service.experiment: expected a name";
    const bad = checkPortRange(range);
    if (bad !== null) return `service.ports: ${bad}`;
    if (!Array.isArray(s["processes"]) || s["processes"].length === 0) return "service.processes: expected a list of processes";
    const processes: ProcessSpec[] = [];
    for (const p of s["processes"] as JsonObject[]) {
      const command = p["command"];
      if (typeof p["name"] !== "string" || !PROCESS_NAME_PATTERN.test(p["name"])) return "service.processes: a process needs a name";
      if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === "string")) return `service.processes.${p["name"]}.command: expected a list of strings`;
      const check = p["checkCommand"];
      processes.push({ name: p["name"], command: command as string[], ports: Number(p["ports"] ?? 1), checkTcp: p["checkTcp"] === true, checkCommand: Array.isArray(check) ? (check as string[]) : null });
    }
    const protocol = s["protocol"] ?? PROTOCOL_DEFAULT;
    if (!Number.isInteger(protocol) || (protocol as number) < 0 || (protocol as number) > 0xffff) return "service.protocol: expected a whole number from 0 to 65535";
    return { experiment: s["experiment"], ports: range, processes, protocol: protocol as number };
  }

  private supervisedSet(service: ServiceState): SupervisedSet {
    const ports = assignPorts(service.ports, service.processes);
    if (typeof ports === "string") throw new Error(ports);
    return { processes: service.processes, ports, dir: join(this.dir, "current"), node: this.node, env: { [PEERS_FILE_ENV]: join(this.dir, USABLE_PEERS_FILE) } };
  }

  /**
   * The peers the service should use (heard on its protocol, not avoided: CoDeeN's rule), as a node
   * file `DIR/peers.live` that the processes find through TESTBED_PEERS_FILE; replaced by rename
   * whenever the set changes, so a reader sees the old list or the new one.
   */
  writeUsablePeers(peers: readonly PeerAddress[]): void {
    const path = join(this.dir, USABLE_PEERS_FILE);
    const temp = `${path}.tmp-${process.pid}`;
    writeFileSync(temp, peers.map((p) => `${p.name} ${p.host.includes(":") ? `[${p.host}]` : p.host}:${p.port}\n`).join(""));
    renameSync(temp, path);
    this.log(`peers.usable count=${peers.length}`);
  }

  private async apply(f: JsonObject): Promise<ControlMessage> {
    const version = f["version"] as string;
    if (!VERSION_PATTERN.test(version)) return errorReply(`apply: field version: expected a label of letters, digits, . _ -, got ${JSON.stringify(version).slice(0, 70)}`);
    const parsed = this.parseService(f["service"]);
    if (typeof parsed === "string") return errorReply(`apply: ${parsed}`);
    // Without a definition (a rollback), the release's own, as it was put in place.
    const service = parsed ?? this.state.services?.[version] ?? this.state.service;
    if (service === null) return errorReply("apply: no service definition yet (deploy first)");
    for (const [name, range] of Object.entries(this.state.experiments)) {
      if (name !== service.experiment && rangesOverlap(range, service.ports)) return errorReply(`apply: ports ${service.ports.first}-${service.ports.last} of experiment ${service.experiment} overlap experiment ${name}'s ${range.first}-${range.last} on this node`);
    }
    const tarballs = f["tarballs"] as JsonObject[];
    const release = join(this.dir, "releases", version);
    if (!existsSync(release)) {
      for (const t of tarballs) {
        if (typeof t["sha256"] !== "string" || !existsSync(join(this.dir, "staged", t["sha256"]))) return errorReply(`apply: tarball ${String(t["name"])} of ${version} is not staged here`);
      }
      const temp = `${release}.tmp-${process.pid}`;
      rmSync(temp, { recursive: true, force: true });
      mkdirSync(temp, { recursive: true });
      try {
        for (const t of tarballs) await tar.x({ file: join(this.dir, "staged", t["sha256"] as string), cwd: temp, strict: true });
      } catch (error) {
        rmSync(temp, { recursive: true, force: true });
        return errorReply(`apply: cannot unpack ${version}: ${(error as Error).message}`);
      }
      renameSync(temp, release);
    }
    // Restart when asked, when the processes change, or when a changed tarball is static state;
    // changing state (restart: false) is put in place under the running processes.
    const held = new Set((this.state.tarballs ?? []).map((t) => t.sha256));
    const changed = tarballs.filter((t) => !held.has(t["sha256"] as string));
    const restart = f["restart"] === true || this.state.service === null || JSON.stringify(service) !== JSON.stringify(this.state.service) || changed.some((t) => t["restart"] !== false);
    if (restart) await this.supervisor.stop();
    this.switchTo(version, service);
    if (tarballs.length > 0) this.state.tarballs = tarballs.map((t) => ({ name: String(t["name"]), sha256: String(t["sha256"]), restart: t["restart"] !== false }));
    this.save();
    if (!restart) return okReply({ version, restarted: false });
    this.supervisor.start(this.supervisedSet(service));
    const healthyMs = Math.min(Number(f["healthyMs"] ?? HEALTHY_MS_DEFAULT), HEALTHY_MS_MAX);
    const exits = this.supervisor.exits;
    await new Promise((r) => setTimeout(r, healthyMs));
    if (this.supervisor.exits !== exits || !this.supervisor.allRunning) return errorReply(`apply: ${version} is not healthy: a process exited within ${healthyMs} ms (see its log)`);
    return okReply({ version, restarted: true });
  }

  /** Points `current` at the release (a new link renamed over the old one), and records it. */
  private switchTo(version: string, service: ServiceState): void {
    const link = join(this.dir, "current");
    const temp = join(this.dir, `current.tmp-${process.pid}`);
    rmSync(temp, { force: true });
    symlinkSync(join("releases", version), temp);
    renameSync(temp, link);
    if (this.state.version !== version) this.state.previous = this.state.version;
    this.state.version = version;
    this.state.service = service;
    this.state.experiments[service.experiment] = service.ports;
    this.state.releases = [version, ...this.state.releases.filter((r) => r !== version)];
    for (const old of this.state.releases.slice(RELEASES_KEPT)) {
      if (old !== this.state.previous) rmSync(join(this.dir, "releases", old), { recursive: true, force: true });
    }
    this.state.releases = this.state.releases.slice(0, RELEASES_KEPT);
    const services = { ...this.state.services, [version]: service };
    this.state.services = Object.fromEntries(Object.entries(services).filter(([v]) => this.state.releases.includes(v) || v === this.state.previous));
    this.save();
    if (this.mesh !== null) {
      this.mesh.link.setProtocol(service.protocol ?? PROTOCOL_DEFAULT);
      this.mesh.link.generation++;
    }
    this.log(`agent.switched version=${version} previous=${this.state.previous ?? "-"} link=${readlinkSync(link)}`);
  }

  /** A path inside the current release, or null for anything that would leave it. */
  private servicePath(file: string): string | null {
    const clean = normalize(file);
    if (file === "" || isAbsolute(file) || clean === "." || clean.startsWith("..")) return null;
    return join(this.dir, "current", clean);
  }

  /** The path's nearest existing ancestor (itself included), links resolved, is within the current release. */
  private insideRelease(path: string): boolean {
    const release = realpathSync(join(this.dir, "current"));
    let at = path;
    while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
    const real = realpathSync(at);
    return real === release || real.startsWith(`${release}${sep}`);
  }

  private checksum(files: string[]): ControlMessage {
    const digests: string[] = [];
    for (const file of files) {
      const path = this.servicePath(file);
      if (path === null) return errorReply(`checksum: ${JSON.stringify(file).slice(0, 80)} is not a path inside the service's files`);
      digests.push(existsSync(path) && statSync(path).isFile() ? createHash("sha256").update(readFileSync(path)).digest("hex") : MISSING);
    }
    return okReply({ version: this.state.version, digests });
  }

  /** Up to READ_CHUNK_BYTES of a service file from `offset`, with its size and version (a repair's source). */
  private read(file: string, offset: number): ControlMessage {
    const path = this.servicePath(file);
    if (path === null) return errorReply(`read: ${JSON.stringify(file).slice(0, 80)} is not a path inside the service's files`);
    if (!existsSync(path) || !statSync(path).isFile()) return errorReply(`read: ${file}: no such file in ${this.state.version ?? "any release"}`);
    if (!this.insideRelease(path)) return errorReply(`read: ${file} leads out of the release`);
    const { size, data } = readFileChunk(path, offset, READ_CHUNK_BYTES);
    return okReply({ version: this.state.version, size }, data);
  }

  /**
   * Puts a staged copy in place of a service file: copied beside it under a temporary name, then
   * renamed over it, so the file is the old one or the new one, never half of each. The copy must
   * stay inside the release (no link out of it).
   */
  private repair(file: string, sha: string): ControlMessage {
    const path = this.servicePath(file);
    if (path === null) return errorReply(`repair: ${JSON.stringify(file).slice(0, 80)} is not a path inside the service's files`);
    if (!SHA256_PATTERN.test(sha)) return errorReply("repair: field sha256: expected 64 hex digits");
    const staged = join(this.dir, "staged", sha);
    if (!existsSync(staged)) return errorReply(`repair: ${file}: the copy ${sha.slice(0, 12)} is not staged here`);
    if (this.state.version === null) return errorReply("repair: no release in place");
    if (!this.insideRelease(dirname(path))) return errorReply(`repair: ${file} leads out of the release`);
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.repair-${process.pid}`;
    copyFileSync(staged, temp);
    renameSync(temp, path);
    rmSync(staged, { force: true });
    this.log(`agent.repaired file=${file} sha256=${sha.slice(0, 12)} version=${this.state.version}`);
    return okReply({ repaired: file, version: this.state.version });
  }

  /** The node file's nodes, to heartbeat (kept in the state, so a restarted agent heartbeats them again). */
  private async setPeers(f: JsonObject): Promise<ControlMessage> {
    const raw = f["peers"] as JsonObject[];
    const self = f["self"] as number;
    if (raw.length > PEERS_MAX) return errorReply(`peers: ${raw.length} nodes, at most ${PEERS_MAX}`);
    const list: PeerAddress[] = [];
    for (const [i, p] of raw.entries()) {
      const port = p["port"];
      if (typeof p["name"] !== "string" || typeof p["host"] !== "string" || p["host"].length > 255 || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535) return errorReply(`peers: entry ${i}: expected a name, a host and a port from 1 to 65535`);
      list.push({ name: p["name"].slice(0, 64), host: p["host"], port: port as number });
    }
    if (self >= list.length) return errorReply(`peers: self ${self} is not an index of the ${list.length} nodes`);
    this.state.peers = { list, self };
    this.save();
    if (this.mesh !== null) await this.mesh.setPeers(list, self);
    return okReply({ peers: list.length });
  }

  private logs(f: JsonObject): ControlMessage {
    const dir = join(this.dir, "logs");
    if (f["file"] === undefined) return okReply({ files: listLogs(dir) as unknown as Json });
    const { size, data } = readLogChunk(dir, basename(f["file"] as string), f["offset"] as number);
    return okReply({ size, bytes: data.byteLength, chunkMax: LOG_CHUNK_BYTES }, data);
  }

  async shutdown(): Promise<void> {
    await this.supervisor.shutdown();
  }
}
