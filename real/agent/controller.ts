import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { backoff } from "../../core/monitor/backoff.js";
import { createRng } from "../../core/engine/rng.js";
import {
  CONTROL_BLOB_BYTES_MAX,
  Rollout,
  defaultRolloutConfig,
  request,
  unavailableAllowed,
  type ControlMessage,
  type JsonObject,
  type PortRange,
  type ProcessSpec,
  type RolloutState,
  type Verdict,
} from "../../core/service/index.js";
import { wallClock } from "../runtime/clock.js";
import { AgentClient, AgentError, AgentReplyError, expectOk } from "./client.js";
import type { AgentAddress } from "./nodes-file.js";
import type { PeerMeshStatus } from "./peers.js";
import { checksumRound, repairMinorities, type RepairResult } from "./repair.js";

/** What the controller needs of a service definition (scenarios/service reads the file). */
export interface ControllerService {
  readonly name: string;
  readonly experiment: string;
  readonly ports: PortRange;
  /** The service's protocol version (heartbeats between agents carry it); 1 when not given. */
  readonly protocol?: number;
  readonly processes: readonly ProcessSpec[];
  readonly nodeSets: readonly { readonly name: string; readonly nodes: readonly number[]; readonly tarballs: readonly { readonly name: string; readonly path: string; readonly restart: boolean }[] }[];
  readonly checksumFiles: readonly string[];
  readonly rollout: {
    readonly batches: readonly (number | `${number}%`)[];
    readonly maxParallel: number;
    readonly maxFailPct: number;
    readonly maxFailTotal: number;
    readonly maxUnavailablePct: number;
    readonly progressDeadlineUs: number;
    readonly opTimeoutUs: number;
    readonly healthyUs: number;
  };
}

export interface NodeStatus {
  readonly node: string;
  readonly address: string;
  readonly nodeSet: string;
  readonly reachable: boolean;
  readonly version: string | null;
  readonly previous: string | null;
  readonly healthy: boolean;
  readonly restarts: number;
  readonly error: string | null;
  /** The watchdog's last report (how long ago on the agent's clock, what it gave up on); null when nothing is supervised. */
  readonly watchdog: { readonly ageMs: number; readonly gaveUp: readonly string[] } | null;
  /** The service's protocol version on the node, and what its heartbeats say of its peers. */
  readonly protocol: number | null;
  readonly peers: PeerMeshStatus | null;
}

export interface RolloutReport {
  readonly version: string;
  readonly state: RolloutState;
  readonly reason: string;
  readonly seconds: number;
  readonly targets: number;
  readonly batches: { batch: number; first: number; size: number; failed: number }[];
  readonly nodes: { node: string; outcome: string }[];
}

export interface ChecksumReport {
  readonly nodeSet: string;
  readonly file: string;
  readonly verdict: Verdict;
  readonly minority: string[];
  readonly silent: string[];
  /** The majority node a repair copies from (null without a decision). */
  readonly source: string | null;
  /** Node indices (into the node file) of the minority and of the source, for a repair. */
  readonly indices: { readonly minority: readonly number[]; readonly source: number | null };
  /** The version each node that answered runs (a repair copies only between nodes of one version). */
  readonly versions: ReadonlyMap<number, string | null>;
}

const CHUNK_BYTES = Math.min(1 << 20, CONTROL_BLOB_BYTES_MAX);
/** Agents asked at once by status, deploy, checksum and logs. */
export const CONTROLLER_CONCURRENCY = 32;
/** An agent that has not answered a status request by then counts as unreachable. */
export const STATUS_TIMEOUT_MS = 10_000;

/**
 * The controller: connects to agents over their authenticated channel and drives the core
 * machines with the wall clock: a Rollout for staged rollouts, a ChecksumRound for checksum sweeps.
 */
export class Controller {
  private readonly clients = new Map<number, Promise<AgentClient>>();
  private readonly setOf: string[];
  private readonly digests = new Map<string, string>();

  constructor(
    readonly nodes: readonly AgentAddress[],
    private readonly key: Uint8Array,
    private readonly service: ControllerService | null,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.setOf = nodes.map(() => "");
    service?.nodeSets.forEach((s) => s.nodes.forEach((n) => (this.setOf[n] = s.name)));
  }

  close(): void {
    for (const c of this.clients.values()) void c.then((x) => x.close(), () => {});
    this.clients.clear();
  }

  private where(i: number): string {
    const a = this.nodes[i] as AgentAddress;
    return `${a.name} (${a.host}:${a.port})`;
  }

  private client(i: number): Promise<AgentClient> {
    let c = this.clients.get(i);
    if (c === undefined) {
      const a = this.nodes[i] as AgentAddress;
      c = AgentClient.connect(a.host, a.port, this.key, this.where(i));
      this.clients.set(i, c);
      c.catch(() => this.clients.delete(i));
    }
    return c;
  }

  /** One request to node i; a broken connection is dropped so the next request reconnects. */
  async ask(i: number, m: ControlMessage, timeoutMs = 60_000): Promise<ControlMessage> {
    const c = await this.client(i);
    try {
      return expectOk(this.where(i), await c.request(m, timeoutMs));
    } catch (error) {
      // An error reply leaves the connection usable; anything else (a time-out, a refusal) does not.
      if (error instanceof AgentError && !(error instanceof AgentReplyError)) {
        this.clients.delete(i);
        c.close();
      }
      throw error;
    }
  }

  async status(): Promise<NodeStatus[]> {
    return mapLimited(this.nodes, CONTROLLER_CONCURRENCY, async (a, i): Promise<NodeStatus> => {
      const base = { node: a.name, address: `${a.host}:${a.port}`, nodeSet: this.setOf[i] ?? "" };
      try {
        const f = (await this.ask(i, request("status"), STATUS_TIMEOUT_MS)).fields;
        return {
          ...base,
          reachable: true,
          version: (f["version"] as string | null) ?? null,
          previous: (f["previous"] as string | null) ?? null,
          healthy: f["healthy"] === true,
          restarts: Number(f["restarts"] ?? 0),
          error: null,
          watchdog: (f["watchdog"] ?? null) as NodeStatus["watchdog"],
          protocol: typeof f["protocol"] === "number" ? f["protocol"] : null,
          peers: (f["peers"] ?? null) as PeerMeshStatus | null,
        };
      } catch (error) {
        return { ...base, reachable: false, version: null, previous: null, healthy: false, restarts: 0, error: (error as Error).message, watchdog: null, protocol: null, peers: null };
      }
    });
  }

  private sha256(path: string): string {
    let d = this.digests.get(path);
    if (d === undefined) {
      const h = createHash("sha256");
      forEachChunk(path, (chunk) => h.update(chunk));
      d = h.digest("hex");
      this.digests.set(path, d);
    }
    return d;
  }

  private tarballsOf(i: number): { name: string; path: string; restart: boolean; sha256: string }[] {
    const set = this.service?.nodeSets.find((s) => s.nodes.includes(i));
    if (set === undefined) throw new AgentError(`${this.where(i)}: in no node set of the service`);
    return set.tarballs.map((t) => ({ ...t, sha256: this.sha256(t.path) }));
  }

  /** Copies the node set's tarballs to node i (an agent that holds one already says so at its first chunk). */
  async stage(i: number, version: string): Promise<void> {
    for (const t of this.tarballsOf(i)) {
      const total = statSync(t.path).size;
      let offset = 0;
      let done = false;
      const chunks: Buffer[] = [];
      forEachChunk(t.path, (c) => chunks.push(Buffer.from(c)));
      if (chunks.length === 0) chunks.push(Buffer.alloc(0));
      for (const chunk of chunks) {
        if (done) break;
        const reply = await this.ask(i, request("stage", { version, tarball: t.name, sha256: t.sha256, offset, total }, chunk), this.opTimeoutMs());
        offset += chunk.byteLength;
        done = reply.fields["staged"] === true;
      }
    }
  }

  private opTimeoutMs(): number {
    return Math.ceil((this.service?.rollout.opTimeoutUs ?? 120_000_000) / 1000);
  }

  private serviceFields(): JsonObject {
    const s = this.service as ControllerService;
    return {
      experiment: s.experiment,
      ports: { first: s.ports.first, last: s.ports.last },
      protocol: s.protocol ?? 1,
      processes: s.processes.map((p) => ({ name: p.name, command: [...p.command], ports: p.ports, checkTcp: p.checkTcp, ...(p.checkCommand === null ? {} : { checkCommand: [...p.checkCommand] }) })),
    };
  }

  /** Stop, put `version` in place (its tarballs must be staged, or the release kept), restart, wait until healthy. */
  async apply(i: number, version: string, withTarballs: boolean): Promise<void> {
    const tarballs = withTarballs ? this.tarballsOf(i).map((t) => ({ name: t.name, sha256: t.sha256, restart: t.restart })) : [];
    // A rollback restarts always; otherwise the agent restarts only if a changed tarball needs it.
    const restart = !withTarballs;
    const healthyMs = Math.ceil((this.service?.rollout.healthyUs ?? 2_000_000) / 1000);
    // A rollback goes back to the release as it was put in place (its processes, its protocol):
    // the agent kept that definition, so this one is not sent.
    const fields = withTarballs ? { version, tarballs, restart, service: this.serviceFields(), healthyMs } : { version, tarballs, restart, healthyMs };
    await this.ask(i, request("apply", fields), this.opTimeoutMs() + healthyMs);
  }

  /** Tells node i the node file's nodes, so it heartbeats its peers. */
  async sendPeers(i: number): Promise<void> {
    await this.ask(i, request("peers", { peers: this.nodes.map((n) => ({ name: n.name, host: n.host, port: n.port })), self: i }));
  }

  /** Everything on node i restarted by its agent (the sweep's remedy); false if nothing is supervised there. */
  async restart(i: number): Promise<boolean> {
    return (await this.ask(i, request("restart"), STATUS_TIMEOUT_MS + 30_000)).fields["restarted"] === true;
  }

  /** Every node at once: stage, then apply. */
  async deploy(version: string): Promise<{ node: string; ok: boolean; error: string | null }[]> {
    return mapLimited(this.nodes, CONTROLLER_CONCURRENCY, async (a, i) => {
      try {
        await this.sendPeers(i);
        await this.stage(i, version);
        await this.apply(i, version, true);
        return { node: a.name, ok: true, error: null };
      } catch (error) {
        return { node: a.name, ok: false, error: (error as Error).message };
      }
    });
  }

  /** A staged rollout of `version` to the targets (indices), with the definition's limits; rolls back to each node's version before. */
  async rollout(version: string, targets: readonly number[], onBatch: (line: string) => void = () => {}): Promise<RolloutReport> {
    const s = this.service as ControllerService;
    const before = await this.status();
    const old = targets.map((i) => before[i]?.version ?? null);
    const clock = wallClock();
    const started = clock.now();
    const batches: RolloutReport["batches"] = [];
    const failedTargets = new Set<number>();
    const config = defaultRolloutConfig(targets.length, {
      batches: s.rollout.batches,
      maxParallel: s.rollout.maxParallel,
      maxFailPct: s.rollout.maxFailPct,
      maxFailTotal: s.rollout.maxFailTotal,
      maxUnavailable: unavailableAllowed(targets.length, s.rollout.maxUnavailablePct),
      progressDeadlineUs: s.rollout.progressDeadlineUs,
      opTimeoutUs: s.rollout.opTimeoutUs + s.rollout.healthyUs,
      rollbackAttemptsMax: 3,
      retryBackoff: backoff("exponential", { stepUs: 500_000, factor: 2, capUs: 10_000_000 }),
    });
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      let finished = false;
      const r: Rollout = new Rollout(config, {
        stage: (_now, k, op) => void this.stage(targets[k] as number, version).then(() => settle(() => r.staged(clock.now(), k, op, true)), (e: Error) => settle(() => {
          failedTargets.add(k);
          this.log(`rollout.stage-failed node=${this.nodes[targets[k] as number]?.name} why=${JSON.stringify(e.message)}`);
          r.staged(clock.now(), k, op, false);
        })),
        apply: (_now, k, toNew, op) => {
          const target = toNew ? version : old[k];
          const run = target === null || target === undefined ? Promise.reject(new AgentError(`${this.where(targets[k] as number)}: had no version to go back to`)) : this.apply(targets[k] as number, target, toNew);
          void run.then(() => settle(() => r.applied(clock.now(), k, op, true)), (e: Error) => settle(() => {
            if (toNew) failedTargets.add(k);
            this.log(`rollout.apply-failed node=${this.nodes[targets[k] as number]?.name} version=${target} why=${JSON.stringify(e.message)}`);
            r.applied(clock.now(), k, op, false);
          }));
        },
        stateChanged: (_now, state, reason) => onBatch(`rollout ${state}${reason === "" ? "" : `: ${reason}`}`),
        batchStarted: (_now, batch, first, size) => onBatch(`batch ${batch + 1}: ${size} nodes from ${this.nodes[targets[first] as number]?.name}`),
        batchSettled: (_now, batch, failed) => onBatch(`batch ${batch + 1} settled: ${failed} failed`),
      }, createRng(`rollout/${version}`));
      before.forEach((st, i) => {
        const k = targets.indexOf(i);
        if (k >= 0 && !st.reachable) r.setDown(k, true);
      });
      const settle = (input: () => void): void => {
        if (finished) return;
        input();
        arm();
      };
      const arm = (): void => {
        if (timer !== null) clearTimeout(timer);
        if (r.finished) {
          finished = true;
          batches.length = 0;
          for (let b = 0, first = 0; b <= Math.min(r.currentBatch, r.sizes.length - 1); first += r.sizes[b] as number, b++) {
            const size = r.sizes[b] as number;
            let failed = 0;
            for (let k = first; k < first + size; k++) if (failedTargets.has(k)) failed++;
            batches.push({ batch: b + 1, first, size, failed });
          }
          resolve({ version, state: r.state, reason: r.reason, seconds: (clock.now() - started) / 1e6, targets: targets.length, batches, nodes: targets.map((i, k) => ({ node: (this.nodes[i] as AgentAddress).name, outcome: phaseName(r.phaseOf(k)) })) });
          return;
        }
        const wake = r.nextWakeUs();
        if (wake === Infinity) return;
        timer = setTimeout(() => settle(() => r.poll(clock.now())), Math.max(0, Math.ceil((wake - clock.now()) / 1000)));
      };
      r.start(clock.now());
      arm();
    });
  }

  /** Hashes the definition's files on every node; the majority of each node set decides, file by file. */
  async checksum(answerDeadlineMs = 30_000): Promise<ChecksumReport[]> {
    const s = this.service as ControllerService;
    const reports: ChecksumReport[] = [];
    if (s.checksumFiles.length === 0) return reports;
    for (const set of s.nodeSets) reports.push(...(await checksumRound(this, set, s.checksumFiles, answerDeadlineMs)));
    return reports;
  }

  /** Copies each decided file from a majority node to the minority nodes of its version (see repair.ts). */
  repair(reports: readonly ChecksumReport[]): Promise<RepairResult[]> {
    return repairMinorities(this, reports);
  }

  /** Lists and fetches each node's logs from `offsets` on (the caller keeps them within its own cap). */
  async logs(i: number): Promise<{ name: string; size: number }[]> {
    return (await this.ask(i, request("logs", { offset: 0 }))).fields["files"] as unknown as { name: string; size: number }[];
  }

  async logChunk(i: number, file: string, offset: number): Promise<{ size: number; data: Uint8Array }> {
    const reply = await this.ask(i, request("logs", { file, offset }));
    return { size: Number(reply.fields["size"]), data: reply.blob };
  }
}

const PHASES = ["pending", "staging", "staged", "stage-failed", "applying", "done", "failed", "rollback-wait", "rolling-back", "rolled-back", "rollback-failed"];
function phaseName(p: number): string {
  return PHASES[p] ?? `phase ${p}`;
}

function forEachChunk(path: string, each: (chunk: Uint8Array) => void): void {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(CHUNK_BYTES);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK_BYTES, null);
      if (n <= 0) break;
      each(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/** Runs `fn` over items with at most `limit` at once; results in item order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
