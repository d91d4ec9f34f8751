import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openExperimentStore } from "../../../real/store/index.js";
import { CLI, tempDir } from "../frisbee/support.js";
import { diskAndImage, experiment, ports } from "../experiment/support.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const { dir, cleanup } = tempDir("testbed-serve-cli-");
afterAll(cleanup);
const TOKEN = "serve-cli-token-0123";

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function serveOnce(...args: string[]) {
  return runTestbed(["serve", "--port", "0", "--db", join(dir, "bad.db"), ...args], { cwd: dir, timeoutMs: 60_000 });
}

/** Waits until the store says one of `states` (each look is a fresh read, as another process sees it). */
async function untilState(db: string, name: string, states: readonly string[]): Promise<string> {
  for (;;) {
    const store = openExperimentStore(db);
    const state = store.experimentHead(name)?.state ?? "gone";
    store.close();
    if (states.includes(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("testbed serve: the real world's node flags, as exp swapin takes them", () => {
  it("refuses a node file it cannot use and a bad real-world flag at start, in one line, exit 2", async () => {
    const missing = await serveOnce("--nodes-file", join(dir, "no-such-file"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`testbed: --nodes-file ${join(dir, "no-such-file")}: cannot read the node file (no such file)\n`);
    writeFileSync(join(dir, "bad-nodes.txt"), "m0 127.0.0.300\n");
    const bad = await serveOnce("--nodes-file", join(dir, "bad-nodes.txt"));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`testbed: --nodes-file ${join(dir, "bad-nodes.txt")}:1: "127.0.0.300" is not an IPv4 address\n`);
    const rate = await serveOnce("--bandwidth", "fast");
    expect(rate.code).toBe(2);
    expect(rate.stderr).toBe('testbed: --bandwidth: expected a rate such as 500Mbit, got "fast"\n');
    expect((await serveOnce("--sync-port", "0")).stderr).toMatch(/^testbed: --sync-port: /);
    expect((await serveOnce("--server-address", "loopback")).stderr).toBe('testbed: --server-address: expected an IPv4 address, got "loopback"\n');
  });

  it("lists the same real-world flags in its help as exp swapin", async () => {
    const flags = (args: string[]) => {
      const help = spawnSync(process.execPath, [CLI, ...args, "--help"], { encoding: "utf8" }).stdout;
      return ["--nodes-dir", "--nodes-file", "--exec", "--tmcd", "--server-address", "--sync-port", "--port-base", "--bandwidth"].filter((f) => help.includes(`${f} <`));
    };
    expect(flags(["serve"])).toEqual(flags(["exp", "swapin"]));
    expect(flags(["serve"])).toHaveLength(8);
  });

  it("swaps in, from the page's API, the machines its --nodes-file names, through its --exec prefix", async () => {
    const { raw, image } = diskAndImage(dir, 4);
    const db = join(dir, "testbed.db");
    experiment(dir, "rt-serve", image, { nodes: [{ name: "node", count: 2, image: "std" }], spares: 0, setup: 'test "$TESTBED_VIA" = portal' }).close();
    const file = join(dir, "machines.txt");
    writeFileSync(file, "s0 127.81.0.10 far/s0\ns1 127.81.0.11\n");
    const p = ports();
    const child = spawn(
      process.execPath,
      [CLI, "serve", "--port", "0", "--db", db, "--token", TOKEN, "--nodes-dir", join(dir, "nodes"), "--nodes-file", file, "--exec", "env TESTBED_VIA=portal", "--port-base", String(p.portBase), "--sync-port", String(p.syncPort), "--bandwidth", "400Mbit"],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", () => {
          const m = /^portal: (\S+)/m.exec(stdout);
          if (m !== null) resolve(m[1] as string);
        });
        child.once("exit", () => reject(new Error(`serve exited: ${stdout}`)));
      });
      const post = (action: string) => fetch(new URL(`/api/experiments/rt-serve/${action}`, url), { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }, body: "{}" });
      expect((await post("swapin")).status).toBeLessThan(300);
      expect(await untilState(db, "rt-serve", ["active", "failed"])).toBe("active");
      const store = openExperimentStore(db);
      expect(store.experiment("rt-serve")!.nodes.map((n) => [n.node, n.host, n.pnode])).toEqual([["node0", "127.81.0.10", "s0"], ["node1", "127.81.0.11", "s1"]]);
      store.close();
      expect(readFileSync(join(dir, "nodes", "rt-serve", "far", "s0", "part1.img")).equals(raw)).toBe(true);
      expect((await post("swapout")).status).toBeLessThan(300);
      expect(await untilState(db, "rt-serve", ["swapped", "failed"])).toBe("swapped");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});

describe("testbed serve --port P [--db PATH]: the command shape", () => {
  it("prints its URL and a token it made, and only that token changes anything; SIGTERM stops it, exit 0", async () => {
    const db = join(dir, "shape.db");
    openExperimentStore(db).close(); // serve reads a store; it never creates one
    const env = { ...process.env };
    delete env.TESTBED_PORTAL_TOKEN;
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--db", db], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const [url, token] = await new Promise<[string, string]>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          const u = /^portal: (\S+)/m.exec(stdout);
          const t = /^token: +(\S+)$/m.exec(stdout);
          if (u !== null && t !== null) resolve([u[1] as string, t[1] as string]);
        });
        child.once("exit", () => reject(new Error(`serve exited: ${stdout}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(token.length).toBeGreaterThanOrEqual(16);
      const post = (bearer: string) => fetch(new URL("/api/experiments/none/swapin", url), { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` }, body: "{}" });
      expect((await post(`${token}x`)).status).toBe(401);
      // With the printed token the request gets past the check, to the store's own answer: no such experiment.
      const ok = await post(token);
      expect(ok.status).toBe(409);
      expect(((await ok.json()) as { error: string }).error).toMatch(/none/);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });
});
