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
 */
export interface SweepOptions {
  readonly intervalUs: Micros;
  readonly silentAfterUs: Micros;
  /** argv run for a node whose agent does not answer; {node}, {host} and {port} are substituted. */
  readonly restartCommand: readonly string[] | null;
  readonly clock?: Clock;
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
}

/** A restart command gets this long before it counts as failed (and is killed). */
export const RESTART_COMMAND_TIMEOUT_MS = 120_000;
/** The last output kept from a restart command, for its record. */
const COMMAND_OUTPUT_MAX = 2_000;

export class SweepController {
  private readonly clock: Clock;
  private readonly sweep: Sweep;
  private pending: { node: number; reason: RestartReason }[] = [];
  rounds = 0;

  constructor(
    private readonly controller: Controller,
    private readonly nodes: readonly AgentAddress[],
    private readonly o: SweepOptions,
  ) {
    this.clock = o.clock ?? wallClock();
    this.sweep = new Sweep(defaultSweepConfig(nodes.length, { intervalUs: o.intervalUs, silentAfterUs: o.silentAfterUs, reconcileMax: 0 }), {
      restartNode: (_now, node, reason) => this.pending.push({ node, reason }),
      reconcile: () => {},
    });
    const now = this.clock.now();
    // Nothing heard before the first round: a node must report in it, or it is silent.
    for (let i = 0; i < nodes.length; i++) this.sweep.add(now - o.silentAfterUs - 1, i, -1);
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
      this.sweep.reported(now - ageUs, i, (s.watchdog?.gaveUp.length ?? 0) > 0, -1);
    });
    this.pending = [];
    this.sweep.poll(now);
    this.rounds++;
    const restarts = await Promise.all(this.pending.map((p) => this.restart(p.node, p.reason, statuses[p.node] as NodeStatus)));
    return { at, nodes: this.nodes.length, reporting, unreachable: statuses.filter((s) => !s.reachable).length, restarts };
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
