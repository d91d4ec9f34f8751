import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Controller } from "../../../real/agent/controller.js";
import { startAgent, type RunningAgent } from "../../../real/agent/daemon.js";
import { GOOD_RUN, KEY, serviceOf, tarball, tempDir } from "./support.js";

/** The watchdog's liveness checks on a real agent: a TCP probe and a command, each failing on purpose. */
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** A port nobody holds now (the range must be real ports: one process listens on it). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("liveness checks on a real agent", () => {
  it("restarts a process whose command check or TCP probe fails, and leaves the one that passes alone", async () => {
    const t = tempDir("svc-checks");
    cleanups.push(t.cleanup);
    const agent = await startAgent({ host: "127.0.0.1", port: 0, key: KEY, dir: join(t.dir, "agent"), node: "n0", log: () => {}, watchdog: { checkFailuresMax: 2 } });
    cleanups.push(() => agent.stop());
    const v1 = await tarball(t.dir, "v1", { "run.sh": GOOD_RUN("v1"), ready: "yes\n" });
    const first = await freePort();
    const base = serviceOf([{ name: "all", nodes: [0], tarballs: [v1] }]);
    const c = new Controller([{ name: "n0", host: "127.0.0.1", port: agent.port }], KEY, {
      ...base,
      ports: { first, last: first + 2 },
      processes: [
        // Listens on its port: the probe passes.
        { name: "web", command: [process.execPath, "-e", "require('net').createServer().listen(Number(process.env.PORT), '127.0.0.1')"], ports: 1, checkTcp: true, checkCommand: null },
        // Passes while the file `ready` is there.
        { name: "worker", command: ["sh", "run.sh"], ports: 1, checkTcp: false, checkCommand: ["test", "-f", "ready"] },
        // Runs, but never listens: the probe fails.
        { name: "deaf", command: ["sh", "run.sh"], ports: 1, checkTcp: true, checkCommand: null },
      ],
    });
    cleanups.push(() => c.close());
    expect(await c.deploy("v1")).toMatchObject([{ ok: true }]);
    const sup = (agent as RunningAgent).agent.supervisor;
    const pidOf = (name: string): number | null | undefined => sup.status().find((p) => p.name === name)?.pid;
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
    // The deaf process is killed and started again once two probes in a row fail.
    while (sup.restarts < 1) await tick();
    expect(sup.status().find((p) => p.name === "deaf")?.failures).toBeGreaterThan(0);
    const web = pidOf("web");
    const worker = pidOf("worker");
    expect(worker).toBeGreaterThan(0);
    // The worker's check starts failing: it is restarted too (a new pid), the web server never.
    rmSync(join(t.dir, "agent", "current", "ready"));
    while (pidOf("worker") === worker || pidOf("worker") === null) await tick();
    expect(sup.status().find((p) => p.name === "worker")?.failures).toBeGreaterThan(0);
    expect(pidOf("web")).toBe(web);
    expect(sup.status().find((p) => p.name === "web")).toMatchObject({ state: "running", failures: 0 });
  });
});
