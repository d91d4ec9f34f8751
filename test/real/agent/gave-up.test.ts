import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BAD_RUN, CLI, GOOD_RUN, tarball, tempDir, testbedAsync } from "./support.js";

/**
 * The watchdog's give-up path on real agents (`testbed agent` processes): a service that always
 * crashes is restarted with backoff until the watchdog gives up; status says so, the sweep restarts
 * the node for it (reason gave-up, through its agent), and the new watchdog tries again.
 */
const t = tempDir("svc-gave-up");
const key = join(t.dir, "operator.key");
const nodes = join(t.dir, "nodes.txt");
const def = join(t.dir, "svc.json");
const db = join(t.dir, "store.db");
const agents: { child: ChildProcess; port: number; log: () => string }[] = [];

const testbed = (...args: string[]) => testbedAsync(t.dir, ...args);

function startAgent(name: string): Promise<{ child: ChildProcess; port: number; log: () => string }> {
  const child = spawn(process.execPath, [CLI, "agent", "--listen", "127.0.0.1:0", "--key", key, "--dir", join(t.dir, name), "--name", name, "--give-up-after", "2"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => void (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) resolve({ child, port: Number(m[1]), log: () => err });
    });
    child.once("exit", (code) => reject(new Error(`agent ${name} exited ${code}: ${err}`)));
  });
}

const gaveUpLines = (i: number): number => (agents[i]?.log().match(/watchdog\.gave-up process=server failures=2/g) ?? []).length;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  writeFileSync(key, "gave-up-operator-key-0123456789\n");
  for (const name of ["n0", "n1"]) agents.push(await startAgent(name));
  writeFileSync(nodes, agents.map((a, i) => `n${i} 127.0.0.1:${a.port}\n`).join(""));
  await tarball(t.dir, "crash", { "run.sh": BAD_RUN("crash") });
  await tarball(t.dir, "good", { "run.sh": GOOD_RUN("good") });
  writeFileSync(def, JSON.stringify({ name: "cdn", experiment: "exp1", ports: "42000-42009", processes: [{ name: "server", command: ["sh", "run.sh"] }], nodeSets: [{ name: "crashing", nodes: ["n0"], tarballs: [{ file: "crash.tar" }] }, { name: "good", nodes: "*", tarballs: [{ file: "good.tar" }] }], rollout: { healthy: "200ms" } }));
});

afterAll(async () => {
  await Promise.all(agents.filter((a) => a.child.exitCode === null).map((a) => new Promise((r) => {
    a.child.once("exit", r);
    a.child.kill("SIGTERM");
  })));
  t.cleanup();
});

describe("a service that always crashes, on real agents", () => {
  it("is given up on by its watchdog; status says so; the sweep restarts its node, whose new watchdog tries again", async () => {
    const deploy = await testbed("service", "deploy", "--nodes", nodes, "--key", key, "--service", def, "--release", "v1", "--db", db);
    expect(deploy.code).toBe(1);
    expect(deploy.stdout).toMatch(/^n0: FAILED: .*v1 is not healthy/m);
    expect(deploy.stdout).toMatch(/^n1: on v1$/m);
    // Two failures in a row (one restart after a backoff of about a second), then it gives up.
    while (gaveUpLines(0) < 1) await pause(100);
    const status = await testbed("service", "status", "--nodes", nodes, "--key", key, "--no-store");
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/^n0 .* v1 +NOT HEALTHY  restarts 1  WATCHDOG GAVE UP on server$/m);
    expect(status.stdout).toMatch(/^n1 .* v1 +healthy  restarts 0$/m);

    const sweep = await testbed("service", "sweep", "--nodes", nodes, "--key", key, "--service", def, "--rounds", "1", "--db", db);
    expect(sweep.stderr).toBe("");
    expect(sweep.code).toBe(0);
    expect(sweep.stdout).toMatch(/sweep: 2 of 2 watchdogs reporting, 0 unreachable, 1 restarted/);
    expect(sweep.stdout).toMatch(/^ {2}n0: restarted \(gave-up, agent\): gave up on server; restarted by its agent$/m);
    expect(sweep.stdout).not.toMatch(/n1:/);
    // The new watchdog started the process again, saw it crash twice, and gave up again.
    while (gaveUpLines(0) < 2) await pause(100);
    expect(gaveUpLines(1)).toBe(0);
    const stored = JSON.parse((await testbed("service", "status", "--nodes", nodes, "--key", key, "--service", def, "--db", db, "--json")).stdout) as { restarts: { node: string; reason: string; how: string; ok: boolean }[] };
    expect(stored.restarts).toMatchObject([{ node: "n0", reason: "gave-up", how: "agent", ok: true }]);
  });
});
