import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, type ControllerService } from "../../../real/agent/controller.js";
import { startAgent, type RunningAgent } from "../../../real/agent/daemon.js";
import type { AgentAddress } from "../../../real/agent/nodes-file.js";
import { SweepController } from "../../../real/agent/sweeper.js";
import { BAD_RUN, GOOD_RUN, KEY, serviceOf, tarball, tempDir, testbedAsync } from "./support.js";

const sha = (text: string): string => createHash("sha256").update(text).digest("hex");
/** Rounds end when every node has answered: a long deadline costs nothing unless a node is down, and load cannot fail it. */
const ANSWER_MS = 60_000;
const tick = (ms = 100): Promise<void> => new Promise((r) => setTimeout(r, ms));
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** `count` agents whose watchdogs report every 200 ms, all on v1 of `service`. */
async function agentsOn(count: number, label: string, service: (v1: string) => ControllerService) {
  const t = tempDir(label);
  cleanups.push(t.cleanup);
  const agents: RunningAgent[] = [];
  for (let i = 0; i < count; i++) agents.push(await startAgent({ host: "127.0.0.1", port: 0, key: KEY, dir: join(t.dir, `agent${i}`), node: `n${i}`, log: () => {}, watchdog: { reportEveryUs: 200_000 } }));
  cleanups.push(async () => void (await Promise.all(agents.map((a) => a.stop()))));
  const nodes: AgentAddress[] = agents.map((a, i) => ({ name: `n${i}`, host: "127.0.0.1", port: a.port }));
  const v1 = await tarball(t.dir, "v1", { "run.sh": GOOD_RUN("v1"), "data/table.txt": "the table\n" });
  const def = service(v1);
  const c = new Controller(nodes, KEY, def);
  cleanups.push(() => c.close());
  expect((await c.deploy("v1")).filter((r) => !r.ok)).toEqual([]);
  return { t, agents, nodes, c, def };
}


describe("the central sweep on real agents", () => {
  it("restarts everything on a node whose watchdog hangs, through its agent, and leaves the others alone", async () => {
    const { agents, nodes, c } = await agentsOn(3, "svc-sweep", (v1) => serviceOf([{ name: "all", nodes: [0, 1, 2], tarballs: [v1] }]));
    const victim = agents[1] as RunningAgent;
    const pid = victim.agent.supervisor.status()[0]?.pid;
    victim.agent.supervisor.hangWatchdog();
    const sweeper = new SweepController(c, nodes, { intervalUs: 300_000, silentAfterUs: 3_000_000, restartCommand: null });
    let restarts: { node: string; reason: string; how: string; ok: boolean }[] = [];
    while (restarts.length === 0) {
      await tick(Math.max(0, Math.ceil((sweeper.nextRoundUs() - sweeper.now()) / 1000)));
      restarts = [...(await sweeper.round()).restarts];
    }
    expect(restarts).toMatchObject([{ node: "n1", reason: "silent", how: "agent", ok: true }]);
    // A new watchdog, a new process, reporting again: the next rounds restart nothing.
    expect(victim.agent.supervisor.status()[0]?.pid).not.toBe(pid);
    while ((victim.agent.supervisor.watchdogReport()?.ageMs ?? Infinity) > 1_000) await tick();
    await tick(Math.ceil((sweeper.nextRoundUs() - sweeper.now()) / 1000));
    const after = await sweeper.round();
    expect(after).toMatchObject({ nodes: 3, reporting: 3, unreachable: 0, restarts: [] });
  });
});

describe("quorum checksums with repair on real agents", () => {
  it("copies the majority's file over a minority node's, after which every node agrees; nothing without a quorum", async () => {
    const { t, agents, nodes, c } = await agentsOn(5, "svc-repair", (v1) => ({ ...serviceOf([{ name: "all", nodes: [0, 1, 2, 3, 4], tarballs: [v1] }]), checksumFiles: ["run.sh", "data/table.txt"] }));
    const bad = join(t.dir, "agent3", "current", "data", "table.txt");
    writeFileSync(bad, "a table gone wrong\n");
    const reports = await c.checksum(ANSWER_MS);
    expect(reports.map((r) => [r.file, r.verdict.supporters, r.minority])).toEqual([["run.sh", 5, []], ["data/table.txt", 4, ["n3"]]]);
    const repairs = await c.repair(reports);
    expect(repairs).toMatchObject([{ node: "n3", file: "data/table.txt", ok: true }]);
    expect(readFileSync(bad, "utf8")).toBe("the table\n");
    expect((await c.checksum(ANSWER_MS)).every((r) => r.verdict.supporters === 5 && r.minority.length === 0)).toBe(true);

    // Through the command: two nodes wrong, in two ways; --repair mends both and exits 0.
    writeFileSync(join(t.dir, "agent0", "current", "run.sh"), "echo tampered\n");
    writeFileSync(join(t.dir, "agent4", "current", "run.sh"), "echo tampered otherwise\n");
    const nodeFile = join(t.dir, "nodes.txt");
    writeFileSync(nodeFile, nodes.map((n) => `${n.name} ${n.host}:${n.port}\n`).join(""));
    writeFileSync(join(t.dir, "key"), KEY);
    const defFile = join(t.dir, "svc.json");
    writeFileSync(defFile, JSON.stringify({ name: "svc", experiment: "exp", ports: "40000-40009", processes: [{ name: "server", command: ["sh", "run.sh"] }], nodeSets: [{ name: "all", nodes: "*", tarballs: [{ file: "v1.tar" }] }], checksum: ["run.sh", "data/table.txt"] }));
    const checkOnly = await testbedAsync(t.dir, "service", "checksum", "--nodes", nodeFile, "--key", join(t.dir, "key"), "--service", defFile, "--no-store");
    expect(checkOnly.code).toBe(1);
    expect(checkOnly.stdout).toMatch(/all\/run\.sh: [0-9a-f]{12} on 3 of 5; minority: n0 n4/);
    const r = await testbedAsync(t.dir, "service", "checksum", "--nodes", nodeFile, "--key", join(t.dir, "key"), "--service", defFile, "--no-store", "--repair", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { repairs: { node: string; ok: boolean }[] };
    expect(out.repairs.map((x) => [x.node, x.ok]).sort()).toEqual([["n0", true], ["n4", true]]);
    for (const i of [0, 4]) expect(readFileSync(join(t.dir, `agent${i}`, "current", "run.sh"), "utf8")).toBe(GOOD_RUN("v1"));

    // Three different copies among five, two nodes silent: no majority, so nothing is repaired.
    await Promise.all([(agents[3] as RunningAgent).stop(), (agents[4] as RunningAgent).stop()]);
    writeFileSync(join(t.dir, "agent1", "current", "run.sh"), "one\n");
    writeFileSync(join(t.dir, "agent2", "current", "run.sh"), "two\n");
    const split = (await c.checksum(2_000)).find((x) => x.file === "run.sh");
    expect(split?.verdict.decided).toBeNull();
    expect(await c.repair(split === undefined ? [] : [split])).toEqual([]);
    expect(readFileSync(join(t.dir, "agent1", "current", "run.sh"), "utf8")).toBe("one\n");
    expect(sha(readFileSync(join(t.dir, "agent0", "current", "run.sh"), "utf8"))).toBe(sha(GOOD_RUN("v1")));
  });
});

describe("heartbeats and version gating between real agents", () => {
  it("peers hear each other once a second; a node moved to another protocol version ignores and is ignored, counted on both sides", async () => {
    const { t, agents, nodes, c, def } = await agentsOn(3, "svc-peers", (v1) => serviceOf([{ name: "all", nodes: [0, 1, 2], tarballs: [v1] }]));
    const peersOf = async (i: number) => (await c.status())[i]?.peers;
    // Each agent needs two heartbeats from each peer (the first one's echo makes the second count).
    for (let i = 0; i < 3; i++) while ((await peersOf(i))?.peers.some((p) => p.avoided) !== false) await tick(250);
    // What the service is told: the peers to use, as a node file its processes find through TESTBED_PEERS_FILE.
    const live = (i: number): string => readFileSync(join(t.dir, `agent${i}`, "peers.live"), "utf8");
    const line = (i: number): string => `n${i} 127.0.0.1:${nodes[i]?.port}\n`;
    while (live(0) !== line(1) + line(2)) await tick(250);
    const pid = (agents[0] as RunningAgent).agent.supervisor.status()[0]?.pid;
    expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")).toContain(`TESTBED_PEERS_FILE=${join(t.dir, "agent0", "peers.live")}`);
    const v2 = await tarball(t.dir, "v2", { "run.sh": GOOD_RUN("v2"), "data/table.txt": "the table\n" });
    const v2Service: ControllerService = { ...def, protocol: 2, nodeSets: [{ name: "all", nodes: [0, 1, 2], tarballs: [{ name: "v2.tar", path: v2, restart: true }] }] };
    const to2 = new Controller(nodes, KEY, v2Service);
    cleanups.push(() => to2.close());
    expect((await to2.rollout("v2", [2])).state).toBe("done");
    const gated = async () => {
      const old = (await peersOf(0))?.peers.find((p) => p.name === "n2");
      const fresh = await peersOf(2);
      return { old, fresh };
    };
    let g = await gated();
    while (!(g.old?.avoided === true && (g.old?.ignoredVersion ?? 0) > 0 && (g.fresh?.ignored ?? 0) > 0)) g = await gated(), await tick(250);
    expect(g.old).toMatchObject({ avoided: true, lastProtocol: 2 });
    expect(g.fresh?.protocol).toBe(2);
    expect(g.fresh?.peers.every((p) => p.lastProtocol === 1)).toBe(true);
    // n0 and n1, both on 1, still take each other's heartbeats (whether one was late under load is not the point here).
    expect((await peersOf(0))?.peers.find((p) => p.name === "n1")).toMatchObject({ ignoredVersion: 0, lastProtocol: 1 });
    // n0's service no longer uses n2 (another version); n2's uses nobody.
    while (live(0) !== line(1)) await tick(250);
    while (live(2) !== "") await tick(250);
    // n1's agent stops: within two heartbeats n0 avoids it, and its service is told.
    await (agents[1] as RunningAgent).stop();
    while (live(0) !== "") await tick(250);
    expect((await peersOf(0))?.peers.find((p) => p.name === "n1")).toMatchObject({ avoided: true, missedLatest: true });
  });
});

describe("the sweep brings nodes back to the wanted version on real agents", () => {
  it("installs the wanted release on nodes that run another one, a few a round, after which their heartbeats are gated with the others' again", async () => {
    const { t, nodes, c, def } = await agentsOn(3, "svc-reconcile", (v1) => serviceOf([{ name: "all", nodes: [0, 1, 2], tarballs: [v1] }]));
    const peersOf = async (i: number) => (await c.status())[i]?.peers;
    for (let i = 0; i < 3; i++) while ((await peersOf(i))?.peers.some((p) => p.avoided) !== false) await tick(250);
    // n1 and n2 end up on v2, which speaks protocol 2 (a rollout the operator then abandoned, say).
    const v2 = await tarball(t.dir, "v2", { "run.sh": GOOD_RUN("v2"), "data/table.txt": "the table\n" });
    const to2 = new Controller(nodes, KEY, { ...def, protocol: 2, nodeSets: [{ name: "all", nodes: [0, 1, 2], tarballs: [{ name: "v2.tar", path: v2, restart: true }] }] });
    cleanups.push(() => to2.close());
    expect((await to2.rollout("v2", [1, 2])).state).toBe("done");
    let seen = (await peersOf(0))?.peers.find((p) => p.name === "n2");
    while (seen?.lastProtocol !== 2) await tick(250), (seen = (await peersOf(0))?.peers.find((p) => p.name === "n2"));

    const nodeFile = join(t.dir, "nodes.txt");
    writeFileSync(nodeFile, nodes.map((n) => `${n.name} ${n.host}:${n.port}\n`).join(""));
    writeFileSync(join(t.dir, "key"), KEY);
    const defFile = join(t.dir, "svc.json");
    writeFileSync(defFile, JSON.stringify({ name: "svc", experiment: "exp", ports: "40000-40009", processes: [{ name: "server", command: ["sh", "run.sh"] }], nodeSets: [{ name: "all", nodes: "*", tarballs: [{ file: "v1.tar" }] }], checksum: ["run.sh"], rollout: { healthy: "400ms" } }));
    const db = join(t.dir, "store.db");
    const sweep = (...more: string[]) => testbedAsync(t.dir, "service", "sweep", "--nodes", nodeFile, "--key", join(t.dir, "key"), "--service", defFile, "--db", db, "--release", "v1", "--json", ...more);
    // One node a round (the default): two rounds bring both back, n1 first.
    const r = await sweep("--rounds", "2", "--interval", "1");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rounds = r.stdout.trim().split("\n").map((line) => JSON.parse(line) as { restarts: unknown[]; reconciles: { node: string; from: string | null; to: string; ok: boolean }[] });
    expect(rounds.map((x) => x.reconciles)).toMatchObject([[{ node: "n1", from: "v2", to: "v1", ok: true }], [{ node: "n2", from: "v2", to: "v1", ok: true }]]);
    expect(rounds.every((x) => x.restarts.length === 0)).toBe(true);
    const after = await c.status();
    expect(after.map((s) => [s.version, s.protocol, s.healthy])).toEqual([["v1", 1, true], ["v1", 1, true], ["v1", 1, true]]);
    expect(readFileSync(join(t.dir, "agent2", "current", "run.sh"), "utf8")).toBe(GOOD_RUN("v1"));
    // Gated with the others again: n0 hears n2 on protocol 1, and n2 hears n0.
    const heard = async () => [(await peersOf(0))?.peers.find((p) => p.name === "n2"), (await peersOf(2))?.peers.find((p) => p.name === "n0")];
    let h = await heard();
    while (!h.every((p) => p?.lastProtocol === 1 && !p.avoided)) await tick(250), (h = await heard());
    // Stored, and a further round finds nothing to do.
    const stored = JSON.parse((await testbedAsync(t.dir, "service", "status", "--nodes", nodeFile, "--key", join(t.dir, "key"), "--service", defFile, "--db", db, "--json")).stdout) as { reconciles: { node: string; from: string; to: string; ok: boolean }[] };
    expect(stored.reconciles.map((x) => [x.node, x.from, x.to, x.ok])).toEqual([["n2", "v2", "v1", true], ["n1", "v2", "v1", true]]);
    const quiet = await sweep("--rounds", "1", "--no-store");
    expect(JSON.parse(quiet.stdout)).toMatchObject({ reporting: 3, restarts: [], reconciles: [] });

    // Quorum checksums on the sweep's schedule: a file gone wrong on n2 is found and, with --repair, mended.
    writeFileSync(join(t.dir, "agent2", "current", "run.sh"), "echo tampered\n");
    const withSums = await sweep("--rounds", "1", "--no-store", "--checksum-every", "1", "--repair");
    expect(withSums.code).toBe(0);
    expect(JSON.parse(withSums.stdout)).toMatchObject({ reconciles: [], checksum: { files: [{ file: "run.sh", supporters: 2, expected: 3, minority: ["n2"] }], repairs: [{ node: "n2", ok: true }] } });
    expect(readFileSync(join(t.dir, "agent2", "current", "run.sh"), "utf8")).toBe(GOOD_RUN("v1"));

    // A release that does not start is reported and fails the sweep; bad flags are one line, exit 2.
    await tarball(t.dir, "broken", { "run.sh": BAD_RUN("v9") });
    const brokenDef = join(t.dir, "broken.json");
    writeFileSync(brokenDef, readFileSync(defFile, "utf8").replace("v1.tar", "broken.tar"));
    const broken = await testbedAsync(t.dir, "service", "sweep", "--nodes", nodeFile, "--key", join(t.dir, "key"), "--service", brokenDef, "--no-store", "--release", "v9", "--rounds", "1");
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/^ {2}n0: NOT BROUGHT TO v9: ran v1; could not bring it to v9: .*v9 is not healthy/m);
    for (const [args, message] of [
      [["--release", "v1"], /^testbed: --release: the sweep needs --service/],
      [["--service", defFile, "--release", "v 1"], /^testbed: --release: expected a label/],
      [["--service", defFile, "--release", "v1", "--reconcile-max", "0"], /^testbed: --reconcile-max: expected a whole number from 1/],
      [["--service", defFile, "--repair"], /^testbed: --repair: repairs follow a checksum round/],
      [["--checksum-every", "1"], /^testbed: --checksum-every: the sweep needs --service/],
    ] as const) {
      const bad = await testbedAsync(t.dir, "service", "sweep", "--nodes", nodeFile, "--key", join(t.dir, "key"), "--no-store", "--rounds", "1", ...args);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(message);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(bad.stdout).toBe("");
    }
  });
});
