import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openServiceStore } from "../../../real/store/index.js";
import { runTestbed, type Ran, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";
import { GOOD_RUN, alive, tarball, tempDir } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const CLI = fileURLToPath(new URL("../../../dist/bin/testbed.js", import.meta.url));
const t = tempDir("svc-cli");
const key = join(t.dir, "operator.key");
const agents: { child: ChildProcess; port: number }[] = [];

/** Runs the CLI without blocking the event loop (see test/support/run.ts). */
function testbed(...args: string[]): Promise<Ran> {
  return runTestbed(args, { cwd: t.dir, timeoutMs: 120_000 });
}

function expectOneLineError(r: { code: number | null; stderr: string }, code: number, pattern: RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
}

function startAgentProcess(name: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CLI, "agent", "--listen", "127.0.0.1:0", "--key", key, "--dir", join(t.dir, name), "--name", name], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) resolve({ child, port: Number(m[1]) });
    });
    child.once("exit", (code) => reject(new Error(`agent exited ${code}`)));
  });
}

/** Pids of the processes an agent supervises, from its status over the CLI. */
function pidsOf(dir: string): number[] {
  const out = spawnSync("sh", ["-c", `for p in /proc/[0-9]*; do if [ "$(readlink $p/cwd 2>/dev/null)" = "${dir}/releases/v2" ]; then basename $p; fi; done`], { encoding: "utf8" }).stdout;
  return out.split("\n").filter((l) => l.trim() !== "").map(Number);
}

let def = "";
let nodes = "";
beforeAll(async () => {
  writeFileSync(key, "cli-operator-key-0123456789\n");
  for (const name of ["n0", "n1"]) agents.push(await startAgentProcess(name));
  nodes = join(t.dir, "nodes.txt");
  writeFileSync(nodes, agents.map((a, i) => `n${i} 127.0.0.1:${a.port}\n`).join(""));
  await tarball(t.dir, "v1", { "run.sh": GOOD_RUN("v1") });
  await tarball(t.dir, "v2", { "run.sh": GOOD_RUN("v2") });
  def = join(t.dir, "svc.json");
  const definition = (version: string) => ({
    name: "cdn",
    experiment: "exp1",
    ports: "41000-41009",
    processes: [{ name: "server", command: ["sh", "run.sh"], check: { command: ["test", "-f", "run.sh"] } }],
    nodeSets: [{ name: "all", nodes: "*", tarballs: [{ file: `${version}.tar` }] }],
    checksum: ["run.sh"],
    rollout: { batches: [1], maxParallel: 1, healthy: "300ms" },
  });
  writeFileSync(def, JSON.stringify(definition("v1")));
  writeFileSync(join(t.dir, "svc2.json"), JSON.stringify(definition("v2")));
});
afterAll(async () => {
  // SIGTERM, so each agent stops its own processes before it exits.
  await Promise.all(agents.filter((a) => a.child.exitCode === null && a.child.signalCode === null).map((a) => new Promise((r) => {
    a.child.once("exit", r);
    a.child.kill("SIGTERM");
  })));
  t.cleanup();
});

describe("testbed agent and testbed service", () => {
  it("deploys, reports status from the store as JSON, rolls out, checksums and collects logs", async () => {
    const db = join(t.dir, "svc.db");
    expect((await testbed("service", "deploy", "--nodes", nodes, "--key", key, "--service", def, "--release", "v1", "--db", db)).code).toBe(0);
    const rollout = await testbed("service", "rollout", "--nodes", nodes, "--key", key, "--service", join(t.dir, "svc2.json"), "--release", "v2", "--db", db, "--json");
    expect(rollout.code).toBe(0);
    expect(JSON.parse(rollout.stdout)).toMatchObject({ state: "done", targets: 2, batches: [{ batch: 1, failed: 0 }, { batch: 2, failed: 0 }] });
    const status = await testbed("service", "status", "--nodes", nodes, "--key", key, "--service", def, "--db", db, "--json");
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as { nodes: { version: string; healthy: boolean; previous: string }[]; rollouts: { version: string; state: string }[] };
    expect(s.nodes.map((n) => [n.version, n.previous, n.healthy])).toEqual([["v2", "v1", true], ["v2", "v1", true]]);
    expect(s.rollouts[0]).toMatchObject({ version: "v2", state: "done" });
    const sums = await testbed("service", "checksum", "--nodes", nodes, "--key", key, "--service", def, "--db", db, "--json");
    expect(sums.code).toBe(0);
    expect((JSON.parse(sums.stdout) as { files: { supporters: number; minority: string[] }[] }).files).toMatchObject([{ supporters: 2, minority: [] }]);
    const store = openServiceStore(db);
    expect(store.nodes("cdn").map((n) => n.version)).toEqual(["v2", "v2"]);
    expect(store.checksums("cdn")).toHaveLength(1);
    store.close();
    const logs = await testbed("service", "logs", "--nodes", nodes, "--key", key, "--out", join(t.dir, "logs"));
    expect(logs.code).toBe(0);
    expect(readFileSync(join(t.dir, "logs", "n0", "server.log"), "utf8")).toMatch(/started v1[\s\S]*started v2/);
    // A file of the user's where a node's folder goes: that node fails in a line that says so, the file is untouched, the other node is collected.
    mkdirSync(join(t.dir, "logs2"));
    writeFileSync(join(t.dir, "logs2", "n1"), "my notes\n");
    const clash = await testbed("service", "logs", "--nodes", nodes, "--key", key, "--out", join(t.dir, "logs2"));
    expect(clash.code).toBe(1);
    expect(clash.stdout).toMatch(/^n1: FAILED: .*logs2\/n1: is a file, not a folder; the node's logs are collected in a folder of that name$/m);
    expect(clash.stdout).toMatch(/^n0: \d+ bytes in /m);
    expect(readFileSync(join(t.dir, "logs2", "n1"), "utf8")).toBe("my notes\n");
  });

  it("refuses a node file with mistakes, naming the file and line, and runs nothing", async () => {
    const bad = join(t.dir, "bad-nodes.txt");
    writeFileSync(bad, "n0 127.0.0.1:1\n# fine\nn1 127.0.0.1\n");
    expectOneLineError(await testbed("service", "status", "--nodes", bad, "--key", key), 2, /bad-nodes\.txt:3: expected HOST:PORT with a port from 1 to 65535, got "127\.0\.0\.1"$/);
    writeFileSync(bad, "n0 127.0.0.1:1\nn0 127.0.0.1:2\n");
    expectOneLineError(await testbed("service", "status", "--nodes", bad, "--key", key), 2, /bad-nodes\.txt:2: node n0 is listed twice \(first on line 1\)$/);
    writeFileSync(bad, "n0 127.0.0.1:1 extra\n");
    expectOneLineError(await testbed("service", "status", "--nodes", bad, "--key", key), 2, /bad-nodes\.txt:1: expected "NAME HOST:PORT"/);
  });

  it("refuses a service definition naming a missing file, in one line naming file and field, and changes nothing", async () => {
    const broken = join(t.dir, "broken.json");
    const d = JSON.parse(readFileSync(def, "utf8")) as { nodeSets: { tarballs: { file: string }[] }[] };
    (d.nodeSets[0] as { tarballs: { file: string }[] }).tarballs = [{ file: "v3.tar" }];
    writeFileSync(broken, JSON.stringify(d));
    expectOneLineError(await testbed("service", "rollout", "--nodes", nodes, "--key", key, "--service", broken, "--release", "v3", "--no-store"), 2, /broken\.json: nodeSets\[0\]\.tarballs\[0\]\.file: no such file: .*v3\.tar$/);
    const status = JSON.parse((await testbed("service", "status", "--nodes", nodes, "--key", key, "--no-store", "--json")).stdout) as { nodes: { version: string }[] };
    expect(status.nodes.map((n) => n.version)).toEqual(["v2", "v2"]);
    writeFileSync(broken, JSON.stringify({ ...d, prots: "1-2" }));
    expectOneLineError(await testbed("service", "checksum", "--nodes", nodes, "--key", key, "--service", broken), 2, /broken\.json: prots: unknown field \(did you mean "ports"\?\)$/);
  });

  it("reports a wrong key as a refusal, and refuses a short key file", async () => {
    const wrong = join(t.dir, "wrong.key");
    writeFileSync(wrong, "some-other-operators-key\n");
    const r = await testbed("service", "status", "--nodes", nodes, "--key", wrong, "--no-store");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/UNREACHABLE: n0 \(127\.0\.0\.1:\d+\): refused: authentication failed \(wrong key\)/);
    writeFileSync(wrong, "short\n");
    expectOneLineError(await testbed("service", "status", "--nodes", nodes, "--key", wrong), 2, /wrong\.key: the key holds 5 bytes, fewer than 16/);
    expectOneLineError(await testbed("agent", "--listen", "localhost", "--key", key), 2, /^testbed: --listen: expected HOST:PORT/);
  });

  it("stops cleanly on SIGTERM, taking its processes with it, and starts them again when it comes back", async () => {
    const status = JSON.parse((await testbed("service", "status", "--nodes", nodes, "--key", key, "--no-store", "--json")).stdout) as { nodes: { node: string }[] };
    expect(status.nodes).toHaveLength(2);
    const a = agents[1] as { child: ChildProcess; port: number };
    const before = pidsOf(join(t.dir, "n1"));
    // The process, and the watcher its wrapper left beside it (see CHILD_WRAPPER).
    expect(before.length).toBe(2);
    const exited = new Promise<number | null>((r) => a.child.once("exit", (code) => r(code)));
    a.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // Its supervised process went with it (the process at once, its watcher once it sees the agent gone).
    while (before.some(alive)) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(t.dir, "n1", "state.json"))).toBe(true);
    const back = await startAgentProcess("n1");
    agents.push(back);
    writeFileSync(nodes, `n0 127.0.0.1:${agents[0]?.port}\nn1 127.0.0.1:${back.port}\n`);
    const again = JSON.parse((await testbed("service", "status", "--nodes", nodes, "--key", key, "--no-store", "--json")).stdout) as { nodes: { version: string; healthy: boolean }[] };
    expect(again.nodes[1]).toMatchObject({ version: "v2" });
  });

  it("takes its processes with it when it is killed with SIGKILL (they watch it)", async () => {
    const a = agents[agents.length - 1] as { child: ChildProcess; port: number };
    let before = pidsOf(join(t.dir, "n1"));
    while (before.length < 2) {
      await new Promise((r) => setTimeout(r, 100));
      before = pidsOf(join(t.dir, "n1"));
    }
    const killed = new Promise((r) => a.child.once("exit", r));
    a.child.kill("SIGKILL");
    await killed;
    // The watcher sees its lifeline close and stops the group: wait for that, however long the load makes it.
    while (before.some(alive)) await new Promise((r) => setTimeout(r, 100));
    expect(pidsOf(join(t.dir, "n1"))).toEqual([]);
  });

  it("sweeps: a node whose agent does not answer is restarted by the operator's command, the others are left alone", async () => {
    const db = join(t.dir, "sweep.db");
    const sweepNodes = join(t.dir, "sweep-nodes.txt");
    // n1's agent was killed above: its port is closed.
    writeFileSync(sweepNodes, `n0 127.0.0.1:${agents[0]?.port}\nn1 127.0.0.1:${agents[agents.length - 1]?.port}\n`);
    const r = await testbed("service", "sweep", "--nodes", sweepNodes, "--key", key, "--service", def, "--db", db, "--rounds", "1", "--json", "--restart-command", `touch '{node} was restarted' "{node}.restarted"`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const round = JSON.parse(r.stdout) as { nodes: number; reporting: number; unreachable: number; restarts: { node: string; reason: string; how: string; ok: boolean }[] };
    expect(round).toMatchObject({ nodes: 2, reporting: 1, unreachable: 1, restarts: [{ node: "n1", reason: "silent", how: "command", ok: true }] });
    // Quoted words stay one word each, and no shell ran them.
    expect(existsSync(join(t.dir, "n1 was restarted"))).toBe(true);
    expect(existsSync(join(t.dir, "n1.restarted"))).toBe(true);
    expect(existsSync(join(t.dir, "n0.restarted"))).toBe(false);
    const status = JSON.parse((await testbed("service", "status", "--nodes", sweepNodes, "--key", key, "--service", def, "--db", db, "--json")).stdout) as { restarts: { node: string; how: string }[] };
    expect(status.restarts).toMatchObject([{ node: "n1", how: "command" }]);
    // A failing restart command fails the sweep; a command line of blanks is refused.
    const failing = await testbed("service", "sweep", "--nodes", sweepNodes, "--key", key, "--no-store", "--rounds", "1", "--restart-command", "false");
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(/n1: NOT RESTARTED \(silent, command\): unreachable: .*restart command false failed with exit 1/);
    expectOneLineError(await testbed("service", "sweep", "--nodes", sweepNodes, "--key", key, "--restart-command", "  "), 2, /--restart-command: expected a command/);
    // Bad quoting, or what only a shell would do, is refused before any round: nothing is run.
    expectOneLineError(await testbed("service", "sweep", "--nodes", sweepNodes, "--key", key, "--no-store", "--restart-command", "touch 'unclosed"), 2, /--restart-command: the quote ' at offset 6 is not closed/);
    expectOneLineError(await testbed("service", "sweep", "--nodes", sweepNodes, "--key", key, "--no-store", "--restart-command", "touch a; touch pwned"), 2, /--restart-command: ';' at offset 7 needs a shell/);
    expect(existsSync(join(t.dir, "pwned"))).toBe(false);
    expect(existsSync(join(t.dir, "unclosed"))).toBe(false);
    expectOneLineError(await testbed("service", "sweep", "--nodes", sweepNodes, "--key", key, "--interval", "0"), 2, /--interval: expected a whole number from 1/);
  });
});
