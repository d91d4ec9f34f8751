import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync, readlinkSync, statSync } from "node:fs";
import { basename, isAbsolute, join, normalize } from "node:path";
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
} from "../../core/service/index.js";
import { LOG_CHUNK_BYTES, listLogs, readLogChunk } from "./logs.js";
import { Supervisor } from "./supervisor.js";

/** Limits on what a controller may make an agent hold. */
export const STAGED_TARBALL_BYTES_MAX = 1 << 30;
export const RELEASES_KEPT = 3;
export const HEALTHY_MS_DEFAULT = 2_000;
export const HEALTHY_MS_MAX = 600_000;
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

interface ServiceState {
  experiment: string;
  ports: PortRange;
  processes: ProcessSpec[];
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

  constructor(
    readonly dir: string,
    readonly node: string,
    private readonly log: (line: string) => void,
  ) {
    for (const sub of ["staged", "releases", "logs"]) mkdirSync(join(dir, sub), { recursive: true });
    this.state = this.load();
    this.supervisor = new Supervisor(join(dir, "logs"), log);
  }

  /** Starts the service recorded in the state, if any (the agent restarted). */
  resume(): void {
    if (this.state.service !== null && this.state.version !== null) this.supervisor.start(this.supervisedSet(this.state.service));
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
        this.supervisor.restartAll();
        return okReply({ restarted: true });
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
    return { experiment: s["experiment"], ports: range, processes };
  }

  private supervisedSet(service: ServiceState): { processes: ProcessSpec[]; ports: number[][]; dir: string; node: string } {
    const ports = assignPorts(service.ports, service.processes);
    if (typeof ports === "string") throw new Error(ports);
    return { processes: service.processes, ports, dir: join(this.dir, "current"), node: this.node };
  }

  private async apply(f: JsonObject): Promise<ControlMessage> {
    const version = f["version"] as string;
    if (!VERSION_PATTERN.test(version)) return errorReply(`apply: field version: expected a label of letters, digits, . _ -, got ${JSON.stringify(version).slice(0, 70)}`);
    const parsed = this.parseService(f["service"]);
    if (typeof parsed === "string") return errorReply(`apply: ${parsed}`);
    const service = parsed ?? this.state.service;
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
    this.save();
    this.log(`agent.switched version=${version} previous=${this.state.previous ?? "-"} link=${readlinkSync(link)}`);
  }

  private checksum(files: string[]): ControlMessage {
    const root = join(this.dir, "current");
    const digests: string[] = [];
    for (const file of files) {
      const clean = normalize(file);
      if (isAbsolute(file) || clean.startsWith("..")) return errorReply(`checksum: ${JSON.stringify(file).slice(0, 80)} is not a path inside the service's files`);
      const path = join(root, clean);
      digests.push(existsSync(path) && statSync(path).isFile() ? createHash("sha256").update(readFileSync(path)).digest("hex") : MISSING);
    }
    return okReply({ version: this.state.version, digests });
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
