import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tar from "tar";
import { ServiceBenchError } from "./bench-error.js";
import { Controller, type ControllerService } from "./controller.js";
import { AGENT_LIFELINE_ENV } from "./daemon.js";
import { readKey } from "./key.js";
import { parseNodeFile } from "./nodes-file.js";

export interface ServiceBenchOptions {
  readonly agents: number;
  readonly batches: readonly number[];
}

export interface ServiceBenchResult {
  agents: number;
  deploySec: number;
  /** One rollout per batch size (batch = parallelism), each to a new version of the static files. */
  rollouts: { batch: number; seconds: number; perNodeMs: number; state: string; reason: string }[];
  /** A restart-less state update pushed to every node at once: from the push to each node holding it. */
  notice: { p50Ms: number; p95Ms: number; maxMs: number };
  /** The same update to one node at a time (the others idle): what one node's own work costs. */
  noticeAlone: { runs: number; p50Ms: number; maxMs: number };
  healthyMs: number;
}

const HEALTHY_US = 1_000_000;
const ALONE_RUNS = 9;
/** Deploys tried before the bench gives up: a loaded machine may miss a handshake deadline (the deploy is idempotent). */
const DEPLOY_ATTEMPTS_MAX = 3;

/**
 * Starts the agents in one child process (a real `testbed agent --pool`), then times, from this
 * process: a deploy, a rollout per batch size, and a restart-less update. Each node runs one
 * supervised process; a node counts as updated when it has the files in place, has restarted, and
 * its process has run for the health wait (1 s).
 */
export async function runServiceBench(o: ServiceBenchOptions): Promise<ServiceBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "testbed-bench-service-"));
  const keyPath = join(dir, "key");
  writeFileSync(keyPath, "bench-key-0123456789abcdef\n");
  // A pipe on fd 3 is the agents' lifeline: if this process dies (a signal, even SIGKILL), they stop.
  const child = spawn(process.execPath, [cliPath(), "agent", "--listen", "127.0.0.1:0", "--pool", String(o.agents), "--key", keyPath, "--dir", join(dir, "agents")], {
    stdio: ["ignore", "pipe", "ignore", "pipe"],
    env: { ...process.env, [AGENT_LIFELINE_ENV]: "3" },
  });
  try {
    const nodes = parseNodeFile("agents", await readLines(child, o.agents));
    const made = new Map<string, { name: string; path: string; restart: boolean }>();
    const make = async (label: string, files: Record<string, string>, restart: boolean): Promise<{ name: string; path: string; restart: boolean }> => {
      // A tarball made again would differ (its times), and its node would restart: make each once.
      const known = made.get(label);
      if (known !== undefined) return known;
      const src = join(dir, `src-${label}`);
      mkdirSync(src, { recursive: true });
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(join(src, name, ".."), { recursive: true });
        writeFileSync(join(src, name), text);
      }
      chmodSync(src, 0o755);
      const path = join(dir, `${label}.tar`);
      await tar.c({ file: path, cwd: src, portable: true }, Object.keys(files));
      made.set(label, { name: `${label}.tar`, path, restart });
      return made.get(label) as { name: string; path: string; restart: boolean };
    };
    const state = await make("state-1", { "state/generation": "1\n" }, false);
    const service = async (label: string, stateTar = state, batch = o.agents): Promise<ControllerService> => ({
      name: "bench",
      experiment: "bench",
      ports: { first: 30_000, last: 30_009 },
      processes: [{ name: "server", command: ["sh", "run.sh"], ports: 1, checkTcp: false, checkCommand: null }],
      nodeSets: [{ name: "all", nodes: nodes.map((_, i) => i), tarballs: [await make(`app-${label}`, { "run.sh": `# ${label}\nexec sleep 100000\n` }, true), stateTar] }],
      checksumFiles: ["run.sh"],
      rollout: { batches: [batch], maxParallel: batch, maxFailPct: 0, maxFailTotal: 0, maxUnavailablePct: 100, progressDeadlineUs: 600_000_000, opTimeoutUs: 120_000_000, healthyUs: HEALTHY_US },
    });
    const key = readKey(keyPath);
    const all = nodes.map((_, i) => i);
    let started = performance.now();
    const first = new Controller(nodes, key, await service("v0"));
    let deployed = await first.deploy("v0");
    for (let attempt = 1; attempt < DEPLOY_ATTEMPTS_MAX && !deployed.every((d) => d.ok); attempt++) deployed = await first.deploy("v0");
    const deploySec = (performance.now() - started) / 1000;
    first.close();
    if (!deployed.every((d) => d.ok)) throw new ServiceBenchError(`bench service: deploy failed ${DEPLOY_ATTEMPTS_MAX} times: ${deployed.find((d) => !d.ok)?.error}`);
    const rollouts: ServiceBenchResult["rollouts"] = [];
    for (const batch of o.batches) {
      const label = `v-batch${batch}`;
      let firstFailure = "";
      const c = new Controller(nodes, key, await service(label, state, Math.min(batch, o.agents)), (line) => void (firstFailure ||= line));
      started = performance.now();
      const r = await c.rollout(label, all);
      const seconds = (performance.now() - started) / 1000;
      c.close();
      rollouts.push({ batch, seconds: round(seconds, 2), perNodeMs: round((seconds * 1000) / o.agents, 1), state: r.state, reason: firstFailure === "" ? r.reason : `${r.reason}; first: ${firstFailure}` });
    }
    // A restart-less update: only the changing-state tarball differs.
    const last = `v-batch${o.batches[o.batches.length - 1]}`;
    const update = new Controller(nodes, key, await service(last, await make("state-2", { "state/generation": "2\n" }, false)));
    await Promise.all(all.map((i) => update.stage(i, "state-2")));
    started = performance.now();
    const seenMs = await Promise.all(all.map(async (i) => {
      await update.apply(i, "state-2", true);
      return performance.now() - started;
    }));
    update.close();
    seenMs.sort((a, b) => a - b);
    const q = (xs: number[], p: number): number => round(xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)] as number, 1);
    const alone: number[] = [];
    for (let k = 0; k < ALONE_RUNS; k++) {
      const c = new Controller(nodes, key, await service(last, await make(`state-alone-${k}`, { "state/generation": `alone ${k}\n` }, false)));
      const target = k % nodes.length;
      await c.stage(target, `alone-${k}`);
      started = performance.now();
      await c.apply(target, `alone-${k}`, true);
      alone.push(performance.now() - started);
      c.close();
    }
    alone.sort((a, b) => a - b);
    return {
      agents: o.agents,
      deploySec: round(deploySec, 2),
      rollouts,
      notice: { p50Ms: q(seenMs, 0.5), p95Ms: q(seenMs, 0.95), maxMs: q(seenMs, 1) },
      noticeAlone: { runs: ALONE_RUNS, p50Ms: q(alone, 0.5), maxMs: q(alone, 1) },
      healthyMs: HEALTHY_US / 1000,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    (child.stdio[3] as Socket | null)?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The built command: this file's sibling in dist/, or, when run from the sources (tests), dist/'s. */
function cliPath(): string {
  const fromSources = fileURLToPath(import.meta.url).endsWith(".ts");
  return fileURLToPath(new URL(fromSources ? "../../dist/bin/testbed.js" : "../../bin/testbed.js", import.meta.url));
}

function round(x: number, digits: number): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

function readLines(child: ReturnType<typeof spawn>, count: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (d: Buffer): void => {
      text += d.toString("utf8");
      if (text.split("\n").filter((l) => l.trim() !== "").length >= count) {
        child.stdout?.off("data", onData);
        resolve(text);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new ServiceBenchError(`bench service: the agents exited (${code}) before listening`)));
  });
}
