import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/bin/testbed.js");
const dir = mkdtempSync(join(tmpdir(), "testbed-exp-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 120_000 });
}

function oneLine(r: { code: number | null; stderr: string }, code: number, text: string): void {
  expect(r.code).toBe(code);
  expect(r.stderr).toBe(`testbed: ${text}\n`);
}

describe("testbed exp", () => {
  it("prints a template that creates, swaps in and out in the simulator, and shows and lists it", async () => {
    const t = await testbed("exp", "template", "--nodes", "6", "--sim", "--name", "small");
    expect(t.code).toBe(0);
    writeFileSync(join(dir, "small.json"), t.stdout);
    expect((await testbed("exp", "create", "small.json")).stdout).toBe("created experiment small: 6 nodes, 1 image, sync server node0, state new (in ./testbed.db)\n");
    const swapin = await testbed("exp", "swapin", "small", "--sim", "--seed", "2", "--json");
    expect(swapin.code).toBe(0);
    expect(JSON.parse(swapin.stdout)).toMatchObject({ experiment: "small", ok: true, state: "active", world: "sim", seed: 2 });
    const show = JSON.parse((await testbed("exp", "show", "small", "--json")).stdout);
    expect(show).toMatchObject({ name: "small", state: "active", world: "sim" });
    expect(show.nodes).toHaveLength(6);
    expect((await testbed("exp", "list")).stdout).toMatch(/^small\s+active\s+sim\s+6\s+6 /m);
    const swapout = await testbed("exp", "swapout", "small", "--sim");
    expect(swapout.code).toBe(0);
    expect(swapout.stdout).toMatch(/^swapout of small \(simulated, seed \d+\): swapped — swapped out: 6 nodes released$/m);
    expect((await testbed("exp", "delete", "small")).stdout).toBe("deleted experiment small\n");
  });

  it("answers create, list and delete in JSON too, as swapin, swapout and show do", async () => {
    const t = await testbed("exp", "template", "--nodes", "2", "--sim", "--name", "js");
    writeFileSync(join(dir, "js.json"), t.stdout);
    expect(JSON.parse((await testbed("exp", "create", "js.json", "--json")).stdout)).toEqual({ name: "js", nodes: 2, images: 1, syncServer: "node0", state: "new" });
    const list = JSON.parse((await testbed("exp", "list", "--json")).stdout) as { experiments: { name: string; state: string; nodes: number }[] };
    expect(list.experiments.find((e) => e.name === "js")).toMatchObject({ name: "js", state: "new", nodes: 2 });
    expect(JSON.parse((await testbed("exp", "delete", "js", "--json")).stdout)).toEqual({ deleted: "js" });
    expect((JSON.parse((await testbed("exp", "list", "--json")).stdout) as { experiments: { name: string }[] }).experiments.some((e) => e.name === "js")).toBe(false);
  });

  it("refuses bad files, bad requests and unknown site variables in one line, exit 2", async () => {
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ name: "b", nodes: [{ name: "n", image: "x" }], images: { y: { size: "1MiB", data: "2MiB" } } }));
    oneLine(await testbed("exp", "create", "bad.json"), 2, 'bad.json: nodes[0].image: no image named "x" in images (y)');
    oneLine(await testbed("exp", "create", "missing.json"), 2, "missing.json: no such file");
    writeFileSync(join(dir, "b.json"), (await testbed("exp", "template", "--nodes", "2", "--sim", "--name", "b")).stdout);
    expect((await testbed("exp", "create", "b.json")).code).toBe(0);
    oneLine(await testbed("exp", "swapout", "b", "--sim"), 2, "experiment b: cannot swap out: it has never been swapped in");
    oneLine(await testbed("exp", "swapin", "zz", "--sim"), 2, "no experiment named zz");
    oneLine(await testbed("exp", "swapin", "b", "--sim", "--speed", "fast"), 2, '--speed: expected a number above 0, got "fast"');
    oneLine(await testbed("sitevar", "images/frisbee/heartbeat", "soon"), 2, 'site variable images/frisbee/heartbeat: expected whole seconds from 0 to 3600, got "soon"');
    oneLine(await testbed("sitevar", "nope", "1"), 2, 'no site variable named "nope" (known: images/frisbee/heartbeat)');
    expect((await testbed("exp", "show", "b", "--json")).code).toBe(0);
  });

  it("sets the heartbeat site variable that swaps use", async () => {
    expect((await testbed("sitevar", "images/frisbee/heartbeat", "3")).code).toBe(0);
    expect(JSON.parse((await testbed("sitevar", "images/frisbee/heartbeat", "--json")).stdout)).toMatchObject({ value: "3", isDefault: false });
    writeFileSync(join(dir, "h.json"), (await testbed("exp", "template", "--nodes", "3", "--sim", "--name", "h")).stdout);
    await testbed("exp", "create", "h.json");
    const r = JSON.parse((await testbed("exp", "swapin", "h", "--sim", "--seed", "1", "--json")).stdout);
    expect(r.extra.counters.heartbeats).toBeGreaterThan(0);
    expect((await testbed("sitevar", "images/frisbee/heartbeat", "--unset")).stdout).toMatch(/= 0 \(default\)/);
  });

  it("keeps the bare form of experiment create for sync servers", async () => {
    const r = await testbed("experiment", "create", "bare", "--nodes", "a=10.0.0.1,b=10.0.0.2", "--sync-server", "b");
    expect(r.stdout).toBe("created experiment bare: 2 nodes, 0 images, sync server b, state new (in ./testbed.db)\n");
    expect((await testbed("syncserver", "bare", "a")).stdout).toBe("SYNCSERVER SERVER=10.0.0.2 ISSERVER=0\n");
    oneLine(await testbed("exp", "swapin", "bare", "--sim"), 2, "experiment bare was created without an experiment file; create one with `testbed exp create FILE` to swap it");
    expect(readFileSync(join(dir, "testbed.db")).subarray(0, 15).toString()).toBe("SQLite format 3");
  });

  it("refuses a second swap-in while another process swaps in, and takes over from one that died", async () => {
    writeFileSync(join(dir, "slow.json"), (await testbed("exp", "template", "--nodes", "4", "--sim", "--name", "slow")).stdout);
    await testbed("exp", "create", "slow.json");
    const first = spawn(process.execPath, [CLI, "exp", "swapin", "slow", "--sim", "--speed", "0.5"], { cwd: dir, stdio: "ignore" });
    try {
      for (let i = 0; i < 200 && JSON.parse((await testbed("exp", "show", "slow", "--json")).stdout).state !== "swapping-in"; i++) await new Promise((r) => setTimeout(r, 100));
      const second = await testbed("exp", "swapin", "slow", "--sim");
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(new RegExp(`^testbed: experiment slow: it is swapping in already: another swap of slow is writing to this store: pid ${first.pid} on .*\\(testbed exp swapin slow --sim\\)`));
      first.kill("SIGKILL");
      await new Promise((r) => first.once("exit", r));
      const again = await testbed("exp", "swapin", "slow", "--sim", "--json");
      expect(again.code).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, state: "active" });
      const events = JSON.parse((await testbed("exp", "show", "slow", "--json")).stdout);
      expect(events.state).toBe("active");
    } finally {
      first.kill("SIGKILL");
    }
  });
});
