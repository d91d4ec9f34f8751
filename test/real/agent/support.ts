import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tar from "tar";
import type { ControllerService } from "../../../real/agent/controller.js";
import { startAgent, type RunningAgent } from "../../../real/agent/daemon.js";
import type { AgentAddress } from "../../../real/agent/nodes-file.js";

export const KEY = Buffer.from("test-operator-key-0123456789");

export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `testbed-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A tarball of the given files (text), made with node-tar as an operator's would be. */
export async function tarball(dir: string, label: string, files: Record<string, string>): Promise<string> {
  const src = join(dir, `src-${label}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(src, name, ".."), { recursive: true });
    writeFileSync(join(src, name), text);
  }
  chmodSync(src, 0o755);
  const path = join(dir, `${label}.tar`);
  await tar.c({ file: path, cwd: src, portable: true }, Object.keys(files));
  return path;
}

/** A startup program that runs until stopped, or one that fails at once. */
export const GOOD_RUN = (label: string): string => `# ${label}\necho started ${label}\nexec sleep 100000\n`;
export const BAD_RUN = (label: string): string => `# ${label}\necho broken ${label} >&2\nexit 1\n`;

export async function startAgents(dir: string, count: number): Promise<{ agents: RunningAgent[]; nodes: AgentAddress[] }> {
  const agents: RunningAgent[] = [];
  for (let i = 0; i < count; i++) agents.push(await startAgent({ host: "127.0.0.1", port: 0, key: KEY, dir: join(dir, `agent${i}`), node: `n${i}`, log: () => {} }));
  return { agents, nodes: agents.map((a, i) => ({ name: `n${i}`, host: "127.0.0.1", port: a.port })) };
}

/** A service over nodes split into node sets; each set's tarballs by path. */
export function serviceOf(sets: { name: string; nodes: number[]; tarballs: string[] }[], overrides: Partial<ControllerService["rollout"]> = {}): ControllerService {
  return {
    name: "svc",
    experiment: "exp",
    ports: { first: 40_000, last: 40_009 },
    processes: [{ name: "server", command: ["sh", "run.sh"], ports: 1, checkTcp: false, checkCommand: null }],
    nodeSets: sets.map((s) => ({ name: s.name, nodes: s.nodes, tarballs: s.tarballs.map((path) => ({ name: path.split("/").pop() as string, path, restart: true })) })),
    checksumFiles: ["run.sh"],
    rollout: { batches: [5], maxParallel: 5, maxFailPct: 0, maxFailTotal: 0, maxUnavailablePct: 25, progressDeadlineUs: 60_000_000, opTimeoutUs: 20_000_000, healthyUs: 400_000, ...overrides },
  };
}

/** The built command. */
export const CLI = fileURLToPath(new URL("../../../dist/bin/testbed.js", import.meta.url));

/** Runs the CLI without blocking this process's event loop (agents may live in it). */
export function testbedAsync(cwd: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => void (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => void (stderr += d.toString()));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Whether a process is still there. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
