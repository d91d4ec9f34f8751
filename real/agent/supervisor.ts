import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { createRng, type Micros } from "../../core/engine/index.js";
import { PROC_STATE_NAMES, Watchdog, defaultWatchdogConfig, substitute, type ProcessSpec, type WatchdogConfig } from "../../core/service/index.js";
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
}

/**
 * Real processes under the core watchdog: it decides when to restart and when to give up; this
 * spawns, kills (the whole process group), runs the checks, and keeps each process's output in a
 * rotating log.
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

  constructor(
    private readonly logDir: string,
    private readonly log: (line: string) => void,
    private readonly config: Partial<WatchdogConfig> = {},
  ) {}

  now(): Micros {
    return this.clock.now();
  }

  /** Starts (or restarts) every process of the set. */
  start(set: SupervisedSet): void {
    this.set = set;
    this.watchdog ??= null;
    const n = set.processes.length;
    this.watchdog = new Watchdog(defaultWatchdogConfig(n, this.config), {
      startProcess: (_now, p) => this.spawnProcess(p),
      stopProcess: (_now, p) => this.kill(p),
      report: (_now, r) => this.log(`watchdog.report running=${r.running} waiting=${r.waiting} gaveUp=${r.gaveUp} restarts=${r.restarts}`),
      gaveUp: (_now, p, failures) => this.log(`watchdog.gave-up process=${set.processes[p]?.name} failures=${failures}`),
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

  restartAll(): void {
    if (this.set !== null) this.start(this.set);
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
    if (w === null || this.stopping) return;
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
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: set.dir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TESTBED_NODE: set.node, ...(port === undefined ? {} : { PORT: String(port) }) },
    });
    this.children[p] = child;
    const out = this.logOf(spec.name);
    child.stdout?.on("data", (d: Buffer) => out.write(d));
    child.stderr?.on("data", (d: Buffer) => out.write(d));
    const exited = (): void => {
      if (this.children[p] !== child) return;
      this.children[p] = null;
      this.exits++;
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
    if (set === null || w === null) return;
    set.processes.forEach((spec, p) => {
      if (this.children[p] === null || this.children[p] === undefined) return;
      const port = set.ports[p]?.[0];
      const checks: Promise<boolean>[] = [];
      if (spec.checkTcp && port !== undefined) checks.push(tcpProbe(port));
      if (spec.checkCommand !== null) checks.push(commandCheck(substitute(spec.checkCommand, { ports: set.ports[p] ?? [], node: set.node, dir: set.dir }), set.dir));
      if (checks.length === 0) return;
      void Promise.all(checks).then((results) => {
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
