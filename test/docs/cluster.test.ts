import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parseAllDocuments } from "yaml";
import { CLOSE_DEADLINE_MS, STOP_GRACE_MS } from "../../real/queue/stopping.js";
import { killChildren, testbed, until } from "../real/frisbee/support.js";
import { redisSkipReason, startTestRedis } from "../support/redis.js";
import { run as runCommand, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

/**
 * docs/cluster holds what a cluster needs to run workers and shards: a container file, a
 * Kubernetes manifest and a Slurm script. These tests hold them to the command they drive.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/bin/testbed.js");
const CLUSTER = join(ROOT, "docs/cluster");
const dir = mkdtempSync(join(tmpdir(), "testbed-cluster-"));
afterAll(() => {
  killChildren();
  rmSync(dir, { recursive: true, force: true });
});

/** The long flags `testbed <words> --help` lists. */
async function flagsOf(...words: string[]): Promise<Set<string>> {
  const help = (await runCommand(process.execPath, [CLI, ...words, "--help"])).stdout;
  return new Set([...help.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1] as string));
}

/** Every flag of a testbed command line is one the command has. */
async function expectKnownFlags(args: readonly string[], ...words: string[]): Promise<void> {
  const known = await flagsOf(...words);
  expect(known.size).toBeGreaterThan(2);
  for (const flag of args.filter((a) => a.startsWith("--"))) expect(known, `${words.join(" ")} ${flag}`).toContain(flag);
}

interface K8sDoc {
  kind: string;
  metadata: { name: string };
  spec: Record<string, any>;
}

const manifest = parseAllDocuments(readFileSync(join(CLUSTER, "kubernetes.yaml"), "utf8")).map((d) => d.toJS() as K8sDoc);
const byName = (name: string): K8sDoc => manifest.find((d) => d.metadata.name === name)!;
const workerContainer = byName("testbed-worker").spec.template.spec.containers[0] as { args: string[]; image: string; resources: { requests: { cpu: string } } };

describe("the Kubernetes manifest", () => {
  it("holds a Redis with noeviction, its Service, and a Deployment of workers", async () => {
    expect(manifest.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(["Deployment/testbed-redis", "Service/testbed-redis", "Deployment/testbed-worker"]);
    const redis = byName("testbed-redis").spec.template.spec.containers[0] as { args: string[] };
    expect(redis.args.join(" ")).toContain("--maxmemory-policy noeviction");
    expect((manifest[1] as K8sDoc).spec.ports[0].port).toBe(6379);
  });

  it("runs testbed worker with flags the command has, against the Service, one job per requested core", async () => {
    const args = workerContainer.args;
    expect(args[0]).toBe("worker");
    await expectKnownFlags(args, "worker");
    expect(args[args.indexOf("--queue") + 1]).toBe("redis://testbed-redis:6379");
    expect(args[args.indexOf("--concurrency") + 1]).toBe(workerContainer.resources.requests.cpu);
    expect(byName("testbed-worker").spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan((STOP_GRACE_MS + CLOSE_DEADLINE_MS) / 1000);
  });

  it.skipIf(redisSkipReason() !== null)(`starts a worker that connects and stops cleanly with the manifest's arguments${redisSkipReason() === null ? "" : ` (skipped: ${redisSkipReason()})`}`, async () => {
    const redis = await startTestRedis(3);
    try {
      const args = workerContainer.args.map((a) => (a.startsWith("redis://") ? redis.url : a));
      const worker = testbed(args, dir, 60_000);
      await until(() => worker.stdout().includes(" on redis://"), "the worker to connect", worker);
      worker.child.kill("SIGTERM");
      expect(await worker.exited).toBe(0);
    } finally {
      await redis.stop();
    }
  });
});

describe("the container file", () => {
  const text = readFileSync(join(CLUSTER, "Dockerfile"), "utf8");
  const instruction = (name: string): string => new RegExp(`^${name} (.*)$`, "m").exec(text)?.[1] ?? "";

  it("builds on the Node the package needs and starts the compiled testbed", async () => {
    const engines = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } }).engines.node;
    expect(instruction("FROM")).toMatch(new RegExp(`^node:${engines.replace(">=", "")}\\b`));
    expect(JSON.parse(instruction("ENTRYPOINT"))).toEqual(["node", "dist/bin/testbed.js"]);
    expect(instruction("RUN")).toContain("npm ci");
  });

  it("runs by default a worker with flags the command has, on the manifest's Redis", async () => {
    const cmd = JSON.parse(instruction("CMD")) as string[];
    expect(cmd[0]).toBe("worker");
    await expectKnownFlags(cmd, "worker");
    expect(cmd[cmd.indexOf("--queue") + 1]).toBe(workerContainer.args[workerContainer.args.indexOf("--queue") + 1]);
    expect(workerContainer.image.split(":")[0]).toBe(/-t (\S+) \./.exec(text)?.[1]);
  });
});

describe("the Slurm script", () => {
  const script = join(CLUSTER, "sweep.slurm");
  const env = (extra: Record<string, string>) => ({
    ...process.env,
    TESTBED: `"${process.execPath}" "${CLI}"`.replace(/"/g, ""),
    RESULTS: join(dir, "slurm"),
    SCENARIO: join(ROOT, "scenarios/sweep/examples/idle-exit-race.json"),
    SEEDS: "1..45",
    SWEEP_FLAGS: "--vary frisbee.clients[1].at=0ms..1500ms --vary faults[0]=on|off",
    ...extra,
  });

  it("runs each array task's shard and merges them into the whole sweep", async () => {
    for (const task of ["1", "2", "3"]) {
      const r = await runCommand("bash", [script], { cwd: dir, env: env({ SLURM_ARRAY_TASK_ID: task, SLURM_ARRAY_TASK_COUNT: "3", SLURM_CPUS_PER_TASK: "1" }) });
      expect(r.stdout, r.stderr).toContain(`shard ${task}/3`);
    }
    const merged = await runCommand("bash", [script, "merge", "--json", "--no-store", "--no-shrink"], { cwd: dir, env: env({}) });
    const whole = await runCommand(process.execPath, [CLI, "sweep", env({}).SCENARIO, "--seeds", "1..45", ...env({}).SWEEP_FLAGS.split(" "), "--json", "--no-store", "--no-shrink"], { cwd: dir });
    const fingerprint = (out: string) => (JSON.parse(out) as { summary: { fingerprint: string; seeds: number } }).summary;
    expect(fingerprint(merged.stdout)).toEqual(fingerprint(whole.stdout));
    expect(fingerprint(merged.stdout).seeds).toBe(45);
  });

  it("says what is missing when not run as an array task", async () => {
    const r = await runCommand("bash", [script], { cwd: dir, env: env({}) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SLURM_ARRAY_TASK_ID: submit with sbatch --array=1-N/);
  });
});

describe("the plan shards manifest (an Indexed Job and a merge Job)", () => {
  const docs = parseAllDocuments(readFileSync(join(CLUSTER, "plan-shards.yaml"), "utf8")).map((d) => d.toJS() as K8sDoc);
  type Container = { command: string[]; args: string[]; env: { name: string; value: string }[] };
  const containerOf = (name: string): Container => docs.find((d) => d.metadata.name === name)!.spec.template.spec.containers[0] as Container;
  const envOf = (c: Container): Record<string, string> => Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  const shardJob = docs.find((d) => d.metadata.name === "testbed-plan-swap")!;
  const shard = containerOf("testbed-plan-swap");
  const merge = containerOf("testbed-plan-swap-merge");
  /** A container's shell script as it would run here: this build for the image's testbed, a folder for the volume. */
  const run = (c: Container, results: string, extra: Record<string, string> = {}) =>
    runCommand("sh", ["-c", (c.args[0] as string).replaceAll("node dist/bin/testbed.js", `"${process.execPath}" "${CLI}"`)], {
      cwd: dir, env: { ...process.env, ...envOf(c), RESULTS: results, ...extra },
    });

  it("holds a volume, an Indexed Job of one shard per completion and a Job that merges them, with SHARDS the completions", async () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(["PersistentVolumeClaim/testbed-plan-results", "Job/testbed-plan-swap", "Job/testbed-plan-swap-merge"]);
    expect(shardJob.spec.completionMode).toBe("Indexed");
    expect(Number(envOf(shard).SHARDS)).toBe(shardJob.spec.completions);
    expect(envOf(merge).SHARDS).toBe(envOf(shard).SHARDS);
    expect(envOf(merge).RESULTS).toBe(envOf(shard).RESULTS);
    expect(shard.command).toEqual(["sh", "-c"]);
    const words = `${envOf(shard).PLAN_FLAGS} ${shard.args[0]}`.split(/\s+/);
    await expectKnownFlags(words, "plan", "swap");
    await expectKnownFlags((merge.args[0] as string).split(/\s+/), "sweep", "merge");
  });

  it("runs each completion index's shard and merges them into the table and chart of one plan swap", async () => {
    const results = join(dir, "k8s-plan");
    mkdirSync(results);
    for (let index = 0; index < shardJob.spec.completions; index++) {
      const r = await run(shard, results, { JOB_COMPLETION_INDEX: String(index) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`plan swap shard ${index + 1}/${shardJob.spec.completions}:`);
    }
    const merged = await run(merge, results);
    expect(merged.code, merged.stderr).toBe(0);
    const whole = await runCommand(process.execPath, [CLI, "plan", "swap", ...envOf(shard).PLAN_FLAGS!.split(" "), "--svg", "k8s-whole.svg"], { cwd: dir });
    expect(merged.stdout.replace(join(results, "swap-plan.svg"), "")).toBe(whole.stdout.replace("k8s-whole.svg", ""));
    expect(readFileSync(join(results, "swap-plan.svg"), "utf8")).toBe(readFileSync(join(dir, "k8s-whole.svg"), "utf8"));
  });
});

describe("the Slurm plan script", () => {
  const script = join(CLUSTER, "plan.slurm");
  const FLAGS = "--nodes 10,40 --delta-pct 1,5 --seed 3";
  const env = (extra: Record<string, string>) => ({ ...process.env, TESTBED: `${process.execPath} ${CLI}`, RESULTS: join(dir, "slurm-plan"), PLAN: "swap", PLAN_FLAGS: FLAGS, ...extra });

  it("runs each array task's shard of a swap plan and merges them into the plan's JSON", async () => {
    for (const task of ["1", "2", "3"]) {
      const r = await runCommand("bash", [script], { cwd: dir, env: env({ SLURM_ARRAY_TASK_ID: task, SLURM_ARRAY_TASK_COUNT: "3", SLURM_CPUS_PER_TASK: "1" }) });
      expect(r.stdout, r.stderr).toContain(`plan swap shard ${task}/3`);
    }
    const merged = await runCommand("bash", [script, "merge", "--json"], { cwd: dir, env: env({}) });
    const whole = await runCommand(process.execPath, [CLI, "plan", "swap", ...FLAGS.split(" "), "--json", "--svg", "slurm-whole.svg"], { cwd: dir });
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stdout).toBe(whole.stdout);
    expect((JSON.parse(merged.stdout) as { results: unknown[] }).results).toHaveLength(4);
  });

  it("says what is missing when not run as an array task", async () => {
    const r = await runCommand("bash", [script], { cwd: dir, env: env({}) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SLURM_ARRAY_TASK_ID: submit with sbatch --array=1-N/);
  });
});
