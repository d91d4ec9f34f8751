import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, GOOD_RUN, alive, tarball, tempDir, testbedAsync } from "./support.js";

/**
 * Agents on namespaced hosts (`testbed agent --netns NAME`): each in its own network namespace with
 * its own address, all on the same port, joined by a bridge in this namespace (where the controller runs). Needs root and `ip`;
 * without them the suite says why it skips. Names and the subnet come from the pid, so runs in
 * other worktrees do not collide.
 */
const HOSTS = 3;
const AGENT_PORT = 7080;
const tag = String(process.pid % 100_000);
/** A /24 no other run has routed (another worktree's run of this test may hold one). */
function freeSubnet(): string {
  for (let k = 0; k < 250; k++) {
    const third = (process.pid + k) % 250;
    const routes = spawnSync("ip", ["route", "show", `10.213.${third}.0/24`], { encoding: "utf8" }).stdout ?? "";
    if (routes.trim() === "") return `10.213.${third}`;
  }
  return `10.213.${process.pid % 250}`;
}
const subnet = freeSubnet();
const bridge = `tbs${tag}`;
const nsName = (i: number): string => `tbs${tag}-${i}`;
const address = (i: number): string => `${subnet}.${10 + i}`;

function ip(...args: string[]): { ok: boolean; err: string } {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  return { ok: r.status === 0, err: (r.stderr ?? r.error?.message ?? "").trim() };
}

/** Null when namespaces can be made here, else why not. */
function whyNoNamespaces(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  const probe = `tbs${tag}-probe`;
  const r = ip("netns", "add", probe);
  if (!r.ok) return `ip netns add failed: ${r.err || "no ip command"}`;
  ip("netns", "del", probe);
  return null;
}

const why = whyNoNamespaces();
if (why !== null) console.warn(`test/real/agent/netns.test.ts: skipped, agents on namespaced hosts need root and ip netns (${why})`);

function must(...args: string[]): void {
  const r = ip(...args);
  if (!r.ok) throw new Error(`ip ${args.join(" ")}: ${r.err}`);
}

function buildHosts(): void {
  must("link", "add", bridge, "type", "bridge");
  must("addr", "add", `${subnet}.1/24`, "dev", bridge);
  must("link", "set", bridge, "up");
  for (let i = 0; i < HOSTS; i++) {
    const ns = nsName(i);
    must("netns", "add", ns);
    must("link", "add", `tv${tag}a${i}`, "type", "veth", "peer", "name", `tv${tag}b${i}`);
    must("link", "set", `tv${tag}b${i}`, "netns", ns);
    must("link", "set", `tv${tag}a${i}`, "master", bridge, "up");
    must("-n", ns, "addr", "add", `${address(i)}/24`, "dev", `tv${tag}b${i}`);
    must("-n", ns, "link", "set", `tv${tag}b${i}`, "up");
    must("-n", ns, "link", "set", "lo", "up");
  }
}

function removeHosts(): void {
  // The veth pairs go with their namespaces.
  for (let i = 0; i < HOSTS; i++) ip("netns", "del", nsName(i));
  ip("link", "del", bridge);
}

const t = tempDir("svc-netns");
const key = join(t.dir, "operator.key");
writeFileSync(key, "netns-operator-key-0123456789\n");
const agents: ChildProcess[] = [];

function startAgentIn(i: number): Promise<void> {
  const child = spawn(process.execPath, [CLI, "agent", "--netns", nsName(i), "--listen", `${address(i)}:${AGENT_PORT}`, "--key", key, "--dir", join(t.dir, `host${i}`), "--name", `n${i}`], { stdio: ["ignore", "pipe", "pipe"] });
  agents.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes(`listening on ${address(i)}:${AGENT_PORT} in network namespace ${nsName(i)}`)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`agent in ${nsName(i)} exited ${code}`)));
  });
}

const testbed = (...args: string[]) => testbedAsync(t.dir, ...args);

/** The pids of a process's children (the agent that `ip netns exec` became). */
function childrenOf(pid: number): number[] {
  const r = spawnSync("sh", ["-c", `cat /proc/${pid}/task/*/children`], { encoding: "utf8" });
  return (r.stdout ?? "").trim().split(/\s+/).filter((x) => x !== "").map(Number);
}

describe("agent --netns refusals", () => {
  it("refuses a namespace that does not exist (or, without root, any) in one line, exit 2, before anything starts", () => {
    const r = spawnSync(process.execPath, [CLI, "agent", "--netns", `tbs${tag}-none`, "--listen", "127.0.0.1:0", "--key", key, "--dir", join(t.dir, "none")], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(process.getuid?.() === 0 ? new RegExp(`^testbed: --netns: no network namespace tbs${tag}-none \\(`) : /^testbed: --netns: entering network namespace .* needs root/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toBe("");
  });
});

describe.skipIf(why !== null)(`agents on namespaced hosts${why === null ? "" : ` (skipped: ${why})`}`, () => {
  beforeAll(async () => {
    removeHosts();
    buildHosts();
    for (let i = 0; i < HOSTS; i++) await startAgentIn(i);
  });
  afterAll(async () => {
    await Promise.all(agents.filter((a) => a.exitCode === null && a.signalCode === null).map((a) => new Promise((r) => {
      a.once("exit", r);
      a.kill("SIGTERM");
    })));
    removeHosts();
    t.cleanup();
  });

  it("deploys to agents that share a port on different hosts, which then hear each other's heartbeats", async () => {
    const nodes = join(t.dir, "nodes.txt");
    writeFileSync(nodes, Array.from({ length: HOSTS }, (_, i) => `n${i} ${address(i)}:${AGENT_PORT}\n`).join(""));
    await tarball(t.dir, "v1", { "run.sh": GOOD_RUN("v1") });
    const def = join(t.dir, "svc.json");
    writeFileSync(def, JSON.stringify({ name: "cdn", experiment: "exp1", ports: "41000-41009", processes: [{ name: "server", command: ["sh", "run.sh"] }], nodeSets: [{ name: "all", nodes: "*", tarballs: [{ file: "v1.tar" }] }], checksum: ["run.sh"] }));
    const deploy = await testbed("service", "deploy", "--nodes", nodes, "--key", key, "--service", def, "--release", "v1", "--no-store");
    expect(deploy.stderr).toBe("");
    expect(deploy.code).toBe(0);
    const sums = await testbed("service", "checksum", "--nodes", nodes, "--key", key, "--service", def, "--no-store", "--json");
    expect(JSON.parse(sums.stdout)).toMatchObject({ files: [{ supporters: HOSTS, minority: [] }] });
    type Status = { nodes: { address: string; healthy: boolean; peers: { peers: { avoided: boolean; address: string }[] } | null }[] };
    let s: Status;
    do {
      await new Promise((r) => setTimeout(r, 250));
      s = JSON.parse((await testbed("service", "status", "--nodes", nodes, "--key", key, "--no-store", "--json")).stdout) as Status;
    } while (!s.nodes.every((n) => n.healthy && n.peers?.peers.every((p) => !p.avoided)));
    expect(s.nodes.map((n) => n.address)).toEqual(Array.from({ length: HOSTS }, (_, i) => `${address(i)}:${AGENT_PORT}`));
    expect(s.nodes[0]?.peers?.peers.map((p) => p.address)).toEqual([`${address(1)}:${AGENT_PORT}`, `${address(2)}:${AGENT_PORT}`]);
  });

  it("stops cleanly on SIGTERM to the command, and stops when the command is killed outright", async () => {
    const [first, last] = [agents[0] as ChildProcess, agents[HOSTS - 1] as ChildProcess];
    const exited = new Promise<number | null>((r) => first.once("exit", (code) => r(code)));
    first.kill("SIGTERM");
    expect(await exited).toBe(0);
    const inside = childrenOf(last.pid as number);
    expect(inside).toHaveLength(1);
    const gone = new Promise((r) => last.once("exit", r));
    last.kill("SIGKILL");
    await gone;
    // Its lifeline closed: the agent inside stops as on SIGTERM (however long the load makes it).
    while (inside.some(alive)) await new Promise((r) => setTimeout(r, 100));
  });
});
