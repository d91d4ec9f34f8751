import { spawn } from "node:child_process";
import { RESTART_REASON_NAMES, Sweep, defaultSweepConfig, type RestartReason } from "../../core/service/index.js";
import type { Micros } from "../../core/engine/index.js";
import { wallClock, type Clock } from "../runtime/clock.js";
import type { Controller, NodeStatus } from "./controller.js";
import type { AgentAddress } from "./nodes-file.js";

/**
 * The central sweep on real agents (CoDeeN's every five minutes): each round asks every agent for
 * its watchdog's last report, feeds the core `Sweep`, and carries out what it decides. A node whose
 * watchdog has not reported for longer than `silentAfterUs` (a hung watchdog, or an agent that does
 * not answer) or that gave up on a process gets everything on it restarted: by its agent when the
 * agent answers (every process stopped, then started under a new watchdog), otherwise by the
 * operator's restart command (`ssh {host} systemctl restart testbed-agent`, say), if one is given.
 * The first round runs at once and counts nothing heard before it, so a node down now is restarted
 * now; a restarted node then has a full silence period to report before it is restarted again.
 *
 * Given the wanted version (`wanted`), the sweep also reconciles, as the core decides: a node that
 * answers with another version (it was down during a rollout or a rollback, or was reinstalled
 * empty) is brought to the wanted one, at most `reconcileMax` nodes a round: the wanted release's
 * tarballs staged, then put in place with the definition (its processes and its protocol version,
 * so the node's heartbeats are gated with the wanted version's peers again), restarted, and waited
 * on until healthy. The operator runs the sweep with the version a rollout ended on.
 */
export interface SweepOptions {
  readonly intervalUs: Micros;
  readonly silentAfterUs: Micros;
  /** argv run for a node whose agent does not answer; {node}, {host} and {port} are substituted. */
  readonly restartCommand: readonly string[] | null;
  /** The version every node should run, and how many nodes a round may be brought to it (null: versions are left alone). */
  readonly wanted?: { readonly version: string; readonly reconcileMax: number } | null;
  readonly clock?: Clock;
}

/** A node brought to the wanted version. */
export interface SweepReconcile {
  readonly node: string;
  /** The version it ran (null: none). */
  readonly from: string | null;
  readonly to: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface SweepRestart {
  readonly node: string;
  readonly reason: "silent" | "gave-up";
  readonly how: "agent" | "command" | "none";
  readonly ok: boolean;
  readonly detail: string;
}

export interface SweepRound {
  readonly at: string;
  readonly nodes: number;
  /** Nodes whose watchdog reported within the silence limit (or that supervise nothing). */
  readonly reporting: number;
  readonly unreachable: number;
  readonly restarts: readonly SweepRestart[];
  readonly reconciles: readonly SweepReconcile[];
}

/** A restart command gets this long before it counts as failed (and is killed). */
export const RESTART_COMMAND_TIMEOUT_MS = 120_000;
/** Nodes brought to the wanted version in one round at most (each is stopped while its files change). */
export const RECONCILE_PER_ROUND_MAX = 1_000;
/** Version label ids: 0 is the wanted version, 1 no version at all, then each other label as first seen. */
const WANTED_ID = 0;
const NO_VERSION_ID = 1;
/** The last output kept from a restart command, for its record. */
const COMMAND_OUTPUT_MAX = 2_000;

export class SweepController {
  private readonly clock: Clock;
  private readonly sweep: Sweep;
  private pending: { node: number; reason: RestartReason }[] = [];
  private reconciling: number[] = [];
  /** Version labels as the core's numbers (see WANTED_ID); bounded by the labels agents report, RELEASES_KEPT each. */
  private readonly versionIds = new Map<string | null, number>();
  rounds = 0;

  constructor(
    private readonly controller: Controller,
    private readonly nodes: readonly AgentAddress[],
    private readonly o: SweepOptions,
  ) {
    this.clock = o.clock ?? wallClock();
    const wanted = o.wanted ?? null;
    if (wanted !== null && !(Number.isInteger(wanted.reconcileMax) && wanted.reconcileMax >= 1 && wanted.reconcileMax <= RECONCILE_PER_ROUND_MAX)) throw new Error(`reconcileMax: expected 1 to ${RECONCILE_PER_ROUND_MAX}, got ${wanted.reconcileMax}`);
    if (wanted !== null) this.versionIds.set(wanted.version, WANTED_ID).set(null, NO_VERSION_ID);
    this.sweep = new Sweep(defaultSweepConfig(nodes.length, { intervalUs: o.intervalUs, silentAfterUs: o.silentAfterUs, reconcileMax: wanted?.reconcileMax ?? 0 }), {
      restartNode: (_now, node, reason) => this.pending.push({ node, reason }),
      reconcile: (_now, node) => this.reconciling.push(node),
    });
    const now = this.clock.now();
    // Nothing heard before the first round: a node must report in it, or it is silent.
    for (let i = 0; i < nodes.length; i++) this.sweep.add(now - o.silentAfterUs - 1, i, wanted === null ? -1 : WANTED_ID);
    this.sweep.start(now - o.intervalUs);
  }

  /** When the next round is due, on this controller's clock. */
  nextRoundUs(): Micros {
    return this.sweep.nextWakeUs();
  }

  now(): Micros {
    return this.clock.now();
  }

  /** One round: every agent's status, the core's verdicts, the restarts carried out. */
  async round(): Promise<SweepRound> {
    const at = new Date().toISOString();
    const statuses = await this.controller.status();
    const now = this.clock.now();
    let reporting = 0;
    statuses.forEach((s, i) => {
      if (!s.reachable) return;
      // An agent that supervises nothing has nothing to report: it answered, that is its report.
      const ageUs = s.watchdog === null ? 0 : s.watchdog.ageMs * 1000;
      if (ageUs <= this.o.silentAfterUs) reporting++;
      this.sweep.reported(now - ageUs, i, (s.watchdog?.gaveUp.length ?? 0) > 0, this.versionId(s.version));
    });
    this.pending = [];
    this.reconciling = [];
    this.sweep.poll(now);
    this.rounds++;
    const restarts = await Promise.all(this.pending.map((p) => this.restart(p.node, p.reason, statuses[p.node] as NodeStatus)));
    const reconciles = await Promise.all(this.reconciling.map((i) => this.reconcile(i, statuses[i] as NodeStatus)));
    return { at, nodes: this.nodes.length, reporting, unreachable: statuses.filter((s) => !s.reachable).length, restarts, reconciles };
  }

  /** The core's number for a version label (-1, never reconciled, when no version is wanted). */
  private versionId(version: string | null): number {
    if (this.o.wanted === null || this.o.wanted === undefined) return -1;
    let id = this.versionIds.get(version);
    if (id === undefined) this.versionIds.set(version, (id = this.versionIds.size));
    return id;
  }

  /** Node i to the wanted version: its tarballs staged, put in place with the definition, restarted, healthy. */
  private async reconcile(i: number, s: NodeStatus): Promise<SweepReconcile> {
    const to = (this.o.wanted as { version: string }).version;
    const base = { node: (this.nodes[i] as AgentAddress).name, from: s.version, to };
    try {
      await this.controller.sendPeers(i);
      await this.controller.stage(i, to);
      await this.controller.apply(i, to, true);
      return { ...base, ok: true, detail: `ran ${s.version ?? "no version"}; now on ${to}` };
    } catch (error) {
      // Not counted as on the wanted version any more: the next round tries again.
      this.sweep.reported(this.clock.now(), i, false, this.versionId(s.version));
      return { ...base, ok: false, detail: `ran ${s.version ?? "no version"}; could not bring it to ${to}: ${(error as Error).message}` };
    }
  }

  private async restart(i: number, reason: RestartReason, s: NodeStatus): Promise<SweepRestart> {
    const node = (this.nodes[i] as AgentAddress).name;
    const why = reason === 1 ? `gave up on ${(s.watchdog?.gaveUp ?? []).join(", ")}` : s.reachable ? `its watchdog last reported ${Math.round((s.watchdog?.ageMs ?? 0) / 1000)} s ago` : `unreachable: ${s.error ?? "no answer"}`;
    const base = { node, reason: RESTART_REASON_NAMES[reason] };
    if (s.reachable) {
      try {
        await this.controller.restart(i);
        return { ...base, how: "agent", ok: true, detail: `${why}; restarted by its agent` };
      } catch (error) {
        if (this.o.restartCommand === null) return { ...base, how: "agent", ok: false, detail: `${why}; its agent could not restart it: ${(error as Error).message}` };
      }
    }
    if (this.o.restartCommand === null) return { ...base, how: "none", ok: false, detail: `${why}; no --restart-command to restart it with` };
    const r = await runRestartCommand(this.o.restartCommand, this.nodes[i] as AgentAddress);
    return { ...base, how: "command", ok: r.ok, detail: `${why}; ${r.detail}` };
  }
}

/** Runs the operator's restart command for one node (no shell: argv with {node}, {host}, {port} substituted). */
export function runRestartCommand(command: readonly string[], a: AgentAddress): Promise<{ ok: boolean; detail: string }> {
  const argv = command.map((arg) => arg.replace(/\{(node|host|port)\}/g, (_, k: string) => (k === "node" ? a.name : k === "host" ? a.host : String(a.port))));
  return new Promise((resolve) => {
    let output = "";
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (d: Buffer): void => void (output = (output + d.toString("utf8")).slice(-COMMAND_OUTPUT_MAX));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), RESTART_COMMAND_TIMEOUT_MS);
    const last = (): string => output.trim().split("\n").pop()?.trim() ?? "";
    child.once("error", (e) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `restart command ${argv[0]}: ${e.message}` });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const tail = last() === "" ? "" : ` (${last()})`;
      resolve(code === 0 ? { ok: true, detail: `restarted by: ${argv.join(" ")}${tail}` } : { ok: false, detail: `restart command ${argv.join(" ")} failed with ${signal ?? `exit ${code}`}${tail}` });
    });
  });
}
