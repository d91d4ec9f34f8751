import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openExperimentStore } from "../../../real/store/index.js";
import { parseExperiment } from "../../../scenarios/experiment/schema.js";
import { CLI, tempDir } from "../frisbee/support.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const { dir, cleanup } = tempDir("testbed-nodeconfig-cli-");
afterAll(cleanup);
const db = join(dir, "testbed.db");

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 30_000 });
}

describe("testbed nodeconfig, tmcc and the --tmcd flags", () => {
  it("serves nodes from the store; tmcc, sync -m and frisbee ask it", async () => {
    const store = openExperimentStore(db);
    store.createFromSpec(parseExperiment(JSON.stringify({ name: "n1", nodes: [{ name: "node", count: 2, image: "std" }], images: { std: { size: "1MiB", data: "2MiB" } }, syncServer: "node1" }), "n1.json"));
    store.setNodeHosts("n1", new Map([["node0", "127.78.0.1"], ["node1", "127.78.0.2"]]));
    store.transition("n1", "swapin", "", "real");
    store.close();
    const daemon = spawn(process.execPath, [CLI, "nodeconfig", "-p", "0", "--db", db], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      daemon.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = / nodeconfig\.start host=127\.0\.0\.1 port=(\d+)/.exec(out);
        if (m !== null) resolve(Number(m[1]));
      });
      daemon.once("exit", (code) => reject(new Error(`nodeconfig exited ${code}`)));
    });
    try {
      const tmcd = `127.0.0.1:${port}`;
      expect((await testbed("tmcc", "syncserver", "--tmcd", tmcd, "-i", "127.78.0.1", "--file", join(dir, "syncserver"))).stdout).toBe("SYNCSERVER SERVER='127.78.0.2' ISSERVER=0\n");
      expect(spawnSync("cat", [join(dir, "syncserver")], { encoding: "utf8" }).stdout).toBe("127.78.0.2\n");
      expect((await testbed("sync", "--tmcd", tmcd, "--from", "127.78.0.2", "-m")).code).toBe(0);
      expect((await testbed("sync", "--tmcd", tmcd, "--from", "127.78.0.1", "-m")).code).toBe(1);
      const nothing = await testbed("frisbee", "--tmcd", tmcd, "-i", "127.78.0.1", join(dir, "disk.img"));
      expect(nothing).toMatchObject({ code: 1, stderr: `testbed: ${tmcd}: nothing to load for 127.78.0.1 (no loadinfo line; is the node's experiment swapping in, and its image served?)\n` });
      expect((await testbed("tmcc", "nodeid", "--tmcd", tmcd, "-i", "127.78.0.9")).stdout).toBe("");
    } finally {
      daemon.kill("SIGTERM");
      await new Promise((r) => daemon.once("exit", r));
    }
  });

  it("says in one line what is wrong with the flags", async () => {
    expect(await testbed("frisbee", join(dir, "x.img"))).toMatchObject({ code: 2, stderr: "testbed: give the server's -m GROUP and -p PORT, or --tmcd HOST:PORT to ask the node-configuration server\n" });
    expect(await testbed("frisbee", "--tmcd", "nohost", join(dir, "x.img"))).toMatchObject({ code: 2, stderr: 'testbed: --tmcd: expected host:port, got "nohost"\n' });
    expect(await testbed("tmcc", "reboot", "--tmcd", "127.0.0.1:1")).toMatchObject({ code: 2, stderr: 'testbed: unknown command "reboot" (known: loadinfo, syncserver, ready, readycount, nodeid)\n' });
    expect(await testbed("tmcc", "nodeid", "--tmcd", "127.0.0.1:1")).toMatchObject({ code: 1, stderr: "testbed: node configuration from 127.0.0.1:1: connection refused (is `testbed nodeconfig` running there?)\n" });
    expect((await testbed("sync", "--tmcd", "127.0.0.1:1", "-n", "x")).code).toBe(68);
  });
});
