import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { createRng, type Micros } from "../../core/engine/index.js";
import { PROC_GAVE_UP, PROC_STATE_NAMES, Watchdog, defaultWatchdogConfig, substitute, type ProcessSpec, type WatchdogConfig } from "../../core/service/index.js";
import { wallClock, type Clock } from "../runtime/clock.js";
import { RotatingLog } from "./logs.js";

/** Liveness checks run this often; a check that takes longer than CHECK_TIMEOUT_MS failed. */
export const CHECK_EVERY_MS = 2_000;
export const CHECK_TIMEOUT_MS = 1_500;
/** A process asked to stop is killed outright after this. */
export const STOP_GRACE_MS = 3_000;

export interface SupervisedSet {
  readonly processes: readonly ProcessSpec[];
  readonly ports: readonly (readonly number[])[];
  readonly dir: string;
  readonly node: string;
  /** More environment for every process (the agent's TESTBED_PEERS_FILE). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Every supervised process starts under this sh wrapper, which ties its life to the agent's: fd 3
 * is a pipe from the agent that nothing ever writes. A watcher (a background subshell of the
 * wrapper, in the process's group, deaf to SIGTERM) reads it until end of file, which comes when
 * the agent closes it, on purpose after the process exited or because the agent died (even by
 * SIGKILL, when the kernel closes it). The watcher then sends SIGTERM to the whole group, waits 3 s
 * if the process is still there, and sends SIGKILL. The wrapper then becomes the command itself
 * (exec, without fd 3), so the pid the agent holds is the command's, and it leads the group.
 */
export const CHILD_WRAPPER =
  '{ trap "" TERM; while read -r _ <&3; do :; done; kill -TERM 0; if kill -0 $$ 2>/dev/null; then sleep 3; fi; kill -KILL 0; } >/dev/null 2>&1 & exec "$@" 3<&-';
export const CHILD_WRAPPER_NAME = "testbed-child";

/**
 * Real processes under the core watchdog: it decides when to restart and when to give up; this
 * spawns (through CHILD_WRAPPER), kills (the whole process group), runs the checks, and keeps each
 * process's output in a rotating log. The watchdog's reports are kept (their time, what it gave up
 * on) for the agent's status, which is what the central sweep reads.
 */
export class Supervisor {
  private readonly clock: Clock = wallClock();
  private watchdog: Watchdog | null = null;
  private set: SupervisedSet | null = null;
  private readonly children: (ChildProcess | null)[] = [];
  private readonly logs = new Map<string, RotatingLog>();
  private wake: NodeJS.Timeout | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  /** Exits since the supervisor was made: a health wait passes only if none happened during it. */
  exits = 0;
  private stopping = false;
  /** When the watchdog last reported in, and what it said; null before its first report. */
  private lastReport: { atUs: Micros; gaveUp: number } | null = null;
  /** A hung watchdog (fault injection): it neither restarts, checks nor reports until restartAll. */
  private hung = false;

  constructor(
    private readonly logDir: string,
    private readonly log: (line: string) => void,
    private readonly config: Partial<WatchdogConfig> = {},
  ) {}

  now(): Micros {
    return this.clock.now();
  }

  /** Starts every process of the set under a new watchdog (the caller has stopped any running ones). */
  start(set: SupervisedSet): void {
    this.set = set;
    this.hung = false;
    const n = set.processes.length;
    this.watchdog = new Watchdog(defaultWatchdogConfig(n, this.config), {
      startProcess: (_now, p) => this.spawnProcess(p),
      stopProcess: (_now, p) => this.kill(p),
      report: (now, r) => {
        this.lastReport = { atUs: now, gaveUp: r.gaveUp };
        this.log(`watchdog.report running=${r.running} waiting=${r.waiting} gaveUp=${r.gaveUp} restarts=${r.restarts}`);
      },
      gaveUp: (now, p, failures) => {
        // Giving up is reported at once, not at the next report: the sweep should hear it this round.
        this.lastReport = { atUs: now, gaveUp: this.watchdog?.summary().gaveUp ?? 1 };
        this.log(`watchdog.gave-up process=${set.processes[p]?.name} failures=${failures}`);
      },
    }, createRng(`watchdog/${set.node}`));
    this.watchdog.startAll(this.now());
    this.arm();
    this.checkTimer ??= setInterval(() => this.runChecks(), CHECK_EVERY_MS);
  }

  /** Stops every process and waits for them to exit; nothing is restarted until start(). */
  async stop(): Promise<void> {
    // Wait for every child to be gone (and reaped), not only signalled: the caller may exit next.
    const exits = this.children.map((c, p) => (c === null ? Promise.resolve() : this.killAndWait(p)));
    this.watchdog?.stopAll(this.now());
    if (this.wake !== null) clearTimeout(this.wake);
    this.wake = null;
    await Promise.all(exits);
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.checkTimer !== null) clearInterval(this.checkTimer);
    this.checkTimer = null;
    await this.stop();
    for (const l of this.logs.values()) l.close();
    this.logs.clear();
  }

  /** Everything restarted (the sweep's remedy): every process stopped, then started under a new watchdog. */
  async restartAll(): Promise<boolean> {
    const set = this.set;
    if (set === null) return false;
    await this.stop();
    this.start(set);
    return true;
  }

  /** Fault injection for tests and drills: the watchdog hangs, as one stuck in a check would. */
  hangWatchdog(): void {
    this.hung = true;
    if (this.wake !== null) clearTimeout(this.wake);
    this.wake = null;
  }

  /**
   * The watchdog's last report, as the sweep reads it: how long ago (ms, on this agent's clock)
   * and the processes it gave up on; null when nothing is supervised.
   */
  watchdogReport(): { ageMs: number; gaveUp: string[] } | null {
    const w = this.watchdog;
    const set = this.set;
    if (w === null || set === null || this.lastReport === null) return null;
    const gaveUp = set.processes.filter((_, p) => w.stateOf(p) === PROC_GAVE_UP).map((p) => p.name);
    return { ageMs: Math.max(0, Math.floor((this.now() - this.lastReport.atUs) / 1000)), gaveUp: this.lastReport.gaveUp > 0 ? gaveUp : [] };
  }

  status(): { name: string; state: string; pid: number | null; failures: number }[] {
    const w = this.watchdog;
    if (w === null || this.set === null) return [];
    return this.set.processes.map((p, i) => ({ name: p.name, state: PROC_STATE_NAMES[w.stateOf(i)], pid: this.children[i]?.pid ?? null, failures: w.failuresOf(i) }));
  }

  get restarts(): number {
    return this.watchdog?.restarts ?? 0;
  }

  get allRunning(): boolean {
    return this.watchdog?.allRunning ?? false;
  }

  private arm(): void {
    if (this.wake !== null) clearTimeout(this.wake);
    const w = this.watchdog;
    if (w === null || this.stopping || this.hung) return;
    const delayMs = Math.max(0, Math.ceil((w.nextWakeUs() - this.now()) / 1000));
    this.wake = setTimeout(() => {
      w.poll(this.now());
      this.arm();
    }, Math.min(delayMs, 2_147_000_000));
    this.wake.unref();
  }

  private logOf(name: string): RotatingLog {
    let l = this.logs.get(name);
    if (l === undefined) {
      l = new RotatingLog(this.logDir, name);
      this.logs.set(name, l);
    }
    return l;
  }

  private spawnProcess(p: number): void {
    const set = this.set as SupervisedSet;
    const spec = set.processes[p] as ProcessSpec;
    const argv = substitute(spec.command, { ports: set.ports[p] ?? [], node: set.node, dir: set.dir });
    const port = set.ports[p]?.[0];
    // Its own process group (detached), so a stop reaches everything it started; fd 3 is the
    // lifeline CHILD_WRAPPER watches.
    const child = spawn("sh", ["-c", CHILD_WRAPPER, CHILD_WRAPPER_NAME, ...argv], {
      cwd: set.dir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      env: { ...process.env, ...set.env, TESTBED_NODE: set.node, ...(port === undefined ? {} : { PORT: String(port) }) },
    });
    this.children[p] = child;
    const out = this.logOf(spec.name);
    child.stdout?.on("data", (d: Buffer) => out.write(d));
    child.stderr?.on("data", (d: Buffer) => out.write(d));
    const lifeline = child.stdio[3] as Socket | null;
    lifeline?.on("error", () => {});
    const exited = (): void => {
      // The process is gone: closing the lifeline lets its watcher clear the group and exit.
      lifeline?.destroy();
      if (this.children[p] !== child) return;
      this.children[p] = null;
      this.exits++;
      if (this.hung) return;
      this.watchdog?.exited(this.now(), p);
      this.arm();
    };
    child.on("exit", exited);
    child.on("error", (e) => {
      out.write(Buffer.from(`testbed agent: cannot start ${spec.name}: ${e.message}\n`));
      exited();
    });
  }

  private kill(p: number): void {
    void this.killAndWait(p);
  }

  private killAndWait(p: number): Promise<void> {
    const child = this.children[p];
    this.children[p] = null;
    if (child === null || child === undefined || child.exitCode !== null || child.pid === undefined) return Promise.resolve();
    const pid = child.pid;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(hard);
        resolve();
      };
      child.once("exit", done);
      const signal = (s: NodeJS.Signals): void => {
        try {
          process.kill(-pid, s);
        } catch {
          child.kill(s);
        }
      };
      const hard = setTimeout(() => signal("SIGKILL"), STOP_GRACE_MS);
      signal("SIGTERM");
    });
  }

  private runChecks(): void {
    const set = this.set;
    const w = this.watchdog;
    if (set === null || w === null || this.hung) return;
    set.processes.forEach((spec, p) => {
      if (this.children[p] === null || this.children[p] === undefined) return;
      const port = set.ports[p]?.[0];
      const checks: Promise<boolean>[] = [];
      if (spec.checkTcp && port !== undefined) checks.push(tcpProbe(port));
      if (spec.checkCommand !== null) checks.push(commandCheck(substitute(spec.checkCommand, { ports: set.ports[p] ?? [], node: set.node, dir: set.dir }), set.dir));
      if (checks.length === 0) return;
      void Promise.all(checks).then((results) => {
        if (this.hung || this.watchdog !== w) return;
        w.checked(this.now(), p, results.every(Boolean));
        this.arm();
      });
    });
  }
}

function tcpProbe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => finish(false), CHECK_TIMEOUT_MS);
    const finish = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    s.once("connect", () => finish(true));
    s.once("error", () => finish(false));
  });
}

function commandCheck(argv: string[], cwd: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn(argv[0] as string, argv.slice(1), { cwd, stdio: "ignore" });
    const t = setTimeout(() => c.kill("SIGKILL"), CHECK_TIMEOUT_MS);
    c.on("exit", (code) => {
      clearTimeout(t);
      resolve(code === 0);
    });
    c.on("error", () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}
