import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { AGENT_LIFELINE_ENV } from "../real/agent/daemon.js";
import { UsageError } from "./errors.js";

/**
 * `testbed agent --netns NAME`: the agent runs inside the named network namespace (as made by
 * `ip netns add NAME`), so several agents on one machine each have a host of their own: their own
 * addresses, the same port. Node cannot enter a namespace itself, so this process starts the agent
 * again under `ip netns exec NAME` (which execs it: the agent's pid is the child's), hands it
 * SIGTERM and SIGINT, and exits with its code. A pipe on fd 3 ties the agent to this process: if
 * this one dies (even by SIGKILL) the pipe closes and the agent stops, as on SIGTERM.
 */
export const NETNS_DIR = "/var/run/netns";
const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Set in the agent started inside the namespace: its name, and the fd of its lifeline. */
export const NETNS_ENV = "TESTBED_AGENT_NETNS";
const LIFELINE_ENV = AGENT_LIFELINE_ENV;
const LIFELINE_FD = 3;

export interface NetnsHost {
  readonly uid: number | null;
  readonly exists: (path: string) => boolean;
  readonly execPath: string;
  /** This process's argv (node, script, arguments). */
  readonly argv: readonly string[];
}

/** The command that runs this agent inside the namespace, or the one-line reason it cannot. */
export function netnsCommand(name: string, host: NetnsHost): string[] {
  if (!NETNS_NAME.test(name)) throw new UsageError(`--netns: expected a namespace name of letters, digits, . _ -, got "${name.slice(0, 70)}"`);
  if (host.uid !== 0) throw new UsageError(`--netns: entering network namespace ${name} needs root (run several agents on different ports instead, or as root)`);
  if (!host.exists(`${NETNS_DIR}/${name}`)) throw new UsageError(`--netns: no network namespace ${name} (${NETNS_DIR}/${name} is missing; ip netns add ${name} makes one)`);
  return ["ip", "netns", "exec", name, host.execPath, ...host.argv.slice(1, 2), ...withoutNetns(host.argv.slice(2))];
}

/** The arguments without --netns NAME / --netns=NAME (the agent inside must not start another). */
export function withoutNetns(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--netns") i++;
    else if (!a.startsWith("--netns=")) out.push(a);
  }
  return out;
}

/** Runs the agent inside the namespace until it exits; resolves with its exit code. */
export function runAgentInNetns(name: string): Promise<number> {
  const argv = netnsCommand(name, { uid: process.getuid?.() ?? null, exists: existsSync, execPath: process.execPath, argv: process.argv });
  const child = spawn(argv[0] as string, argv.slice(1), {
    stdio: ["ignore", "inherit", "inherit", "pipe"],
    env: { ...process.env, [NETNS_ENV]: name, [LIFELINE_ENV]: String(LIFELINE_FD) },
  });
  const forward = (s: NodeJS.Signals): void => void child.kill(s);
  const signals = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
  for (const s of signals) process.on(s, forward);
  return new Promise((resolve, reject) => {
    child.once("error", (e) => reject(new UsageError(`--netns: cannot run ip netns exec: ${e.message}`)));
    child.once("close", (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(code ?? (signal === "SIGTERM" || signal === "SIGINT" ? 0 : 1));
    });
  });
}

/** In the agent started by runAgentInNetns: calls `stop` when the starting process is gone. */
export function watchLifeline(stop: () => void): void {
  const fd = Number(process.env[LIFELINE_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return;
  delete process.env[LIFELINE_ENV];
  import("node:net").then(({ Socket }) => {
    const s = new Socket({ fd, readable: true, writable: false });
    s.on("error", stop);
    s.on("end", stop);
    s.on("close", stop);
    s.resume();
    s.unref();
  }, stop);
}
