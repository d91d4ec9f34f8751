import { spawn } from "node:child_process";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";
import { CLI } from "../frisbee/support.js";
import { portalWith, TOKEN, untilState, type Portal } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

let portal: Portal | undefined;
afterEach(async () => {
  await portal?.close();
  portal = undefined;
});

const post = (p: Portal, path: string, token: string | null, body: unknown = {}) =>
  fetch(new URL(path, p.url), {
    method: "POST",
    headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });

/** Reads server-sent events until `done` says so; returns the events seen (name and parsed data). */
async function readEvents(url: URL, done: (events: { event: string; data: any }[]) => boolean, onFirst: () => Promise<unknown> = async () => {}): Promise<{ event: string; data: any }[]> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: { event: string; data: any }[] = [];
  let buffered = "";
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
        if (events.length === 1) await onFirst();
      }
    }
  } finally {
    controller.abort();
  }
  return events;
}

describe("testbed serve: the portal's API", () => {
  it("listens on loopback and shows experiments to anyone, without a token", async () => {
    portal = await portalWith(["exp-a", "exp-b"], 20, null);
    expect(new URL(portal.url).hostname).toBe("127.0.0.1");
    const list = (await (await fetch(new URL("/api/experiments", portal.url))).json()) as { experiments: { name: string; state: string; nodes: number }[] };
    expect(list.experiments.map((e) => [e.name, e.state, e.nodes]).sort()).toEqual([["exp-a", "new", 20], ["exp-b", "new", 20]]);
    const one = (await (await fetch(new URL("/api/experiments/exp-a", portal.url))).json()) as { nodes: unknown[]; nodeCount: number; simulated: boolean };
    expect(one.nodeCount).toBe(20);
    expect(one.nodes).toHaveLength(20);
    expect(one.simulated).toBe(true);
    const missing = await fetch(new URL("/api/experiments/nope", portal.url));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "no experiment named nope" });
    const page = await fetch(portal.url);
    expect(page.headers.get("content-security-policy")).toBe("default-src 'self'");
    expect(await page.text()).toContain("testbed portal");
  });

  it("refuses every change without the right token, and the store keeps what it had", async () => {
    portal = await portalWith(["exp-a"], 20, null);
    for (const token of [null, "", "wrong-token-000"]) {
      for (const path of ["/api/experiments/exp-a/swapin", "/api/experiments/exp-a/swapout", "/api/experiments/exp-a/save-disk-state"]) {
        const res = await post(portal, path, token, { save: true });
        expect(res.status, `${path} with token ${String(token)}`).toBe(401);
        expect(((await res.json()) as { error: string }).error).toMatch(token ? /wrong token/ : /send the portal's token/);
      }
    }
    const row = portal.store.experiment("exp-a");
    expect(row?.state).toBe("new");
    expect(row?.saveDiskState).toBe(false);
    expect(portal.store.swapRuns("exp-a")).toEqual([]);
  });

  it("with the token: sets save-disk-state, swaps in, refuses a second swap-in and a swap-out of an experiment that is not in, in one line each", async () => {
    portal = await portalWith(["exp-a", "exp-b"], 30, 20);
    expect((await post(portal, "/api/experiments/exp-a/save-disk-state", TOKEN, { save: true })).status).toBe(200);
    expect(portal.store.experiment("exp-a")?.saveDiskState).toBe(true);
    const bad = await post(portal, "/api/experiments/exp-a/save-disk-state", TOKEN, { save: "yes" });
    expect(bad.status).toBe(400);
    const out = await post(portal, "/api/experiments/exp-b/swapout", TOKEN);
    expect(out.status).toBe(409);
    expect(((await out.json()) as { error: string }).error).toBe("experiment exp-b: cannot swap out: it has never been swapped in");
    const first = await post(portal, "/api/experiments/exp-a/swapin", TOKEN);
    expect(first.status).toBe(202);
    const second = await post(portal, "/api/experiments/exp-a/swapin", TOKEN);
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: string }).error).toMatch(/^experiment exp-a: cannot swap in: it is swapping in already/);
    expect(await untilState(portal, "exp-a", ["active", "failed"])).toBe("active");
    expect(portal.store.experiment("exp-b")?.state).toBe("new");
  });

  it("pushes the experiment's progress as server-sent events while a swap runs, until it is active", async () => {
    portal = await portalWith(["exp-a"], 40, 10);
    const url = new URL("/api/stream?experiment=exp-a", portal.url);
    // The swap starts once the stream has sent its first snapshot; the swap's flushes follow.
    let status = 0;
    const events = await readEvents(
      url,
      (seen) => seen.some((e) => e.event === "experiment" && e.data.state === "active"),
      async () => (status = (await post(portal as Portal, "/api/experiments/exp-a/swapin", TOKEN)).status),
    );
    expect(status).toBe(202);
    const snapshots = events.filter((e) => e.event === "experiment").map((e) => e.data);
    expect(snapshots[0].state).toBe("new");
    const during = snapshots.filter((s) => s.state === "swapping-in");
    expect(during.length).toBeGreaterThan(1);
    const ready = during.map((s) => s.progress.barrier?.ready ?? 0);
    expect(new Set(ready).size).toBeGreaterThan(1);
    // The barriers list carries the boot barrier, moving too, with the nodes it still waits for.
    const boot = during.map((s) => s.barriers[0]);
    expect(boot.every((b) => b.name === "boot" && b.total === 40)).toBe(true);
    expect(new Set(boot.map((b) => b.arrived)).size).toBeGreaterThan(1);
    expect(boot[0].waiting.length).toBeGreaterThan(0);
    expect(snapshots.at(-1).runs[0]).toMatchObject({ kind: "swapin", ok: true, world: "sim" });
    expect(events.some((e) => e.event === "list")).toBe(true);
  });

  it("sees a swap run by another connection to the store (as from another process) without being told", async () => {
    portal = await portalWith(["exp-a"], 10, null);
    const url = new URL("/api/stream", portal.url);
    const store = portal.store;
    const events = await readEvents(
      url,
      (seen) => seen.some((e) => e.event === "list" && e.data.experiments[0].state === "failed"),
      async () => {
        store.transition("exp-a", "swapin");
        store.transition("exp-a", "swapin-failed", "stopped by hand");
      },
    );
    expect(events[0]?.data.experiments[0].state).toBe("new");
    expect(events.at(-1)?.data.experiments[0]).toMatchObject({ name: "exp-a", state: "failed", reason: "stopped by hand" });
  });

  it("shows every barrier of a real experiment's sync server live: who arrived and waits, by node name (loopback nodes too), then the release", async () => {
    portal = await portalWith([], 0, null);
    // Local nodes live on 127.x addresses of one machine: each waiter connects from its node's own.
    portal.store.createExperiment("real-1", [{ node: "node0", host: "127.0.9.1" }, { node: "node1", host: "127.0.9.2" }, { node: "node2", host: "192.0.2.3" }], "node0");
    // Port 0: the server picks one and says it in its first event.
    const syncd = spawn(process.execPath, [CLI, "syncd", "-p", "0", "--host", "127.0.0.1", "--no-udp", "--db", portal.db, "--experiment", "real-1"], { stdio: ["ignore", "pipe", "pipe"] });
    let syncdSaid = "";
    const exit = (c: ReturnType<typeof spawn>) => new Promise<number | null>((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.once("exit", (code) => resolve(code))));
    const syncPort = await new Promise<number>((resolve, reject) => {
      syncd.stdout.on("data", (d: Buffer) => {
        syncdSaid += d.toString();
        const m = /syncd\.start .*tcp=(\d+)/.exec(syncdSaid);
        if (m !== null) resolve(Number(m[1]));
      });
      syncd.stderr.on("data", (d: Buffer) => (syncdSaid += d.toString()));
      syncd.once("exit", () => reject(new Error(`syncd exited: ${syncdSaid}`)));
    });
    const sync = (env: Record<string, string>, ...args: string[]) => spawn(process.execPath, [CLI, "sync", "-s", `127.0.0.1:${syncPort}`, ...args], { stdio: "ignore", env: { ...process.env, TESTBED_ADDRESS: "", ...env } });
    const setupRow = (e: { event: string; data: any }) => (e.event === "experiment" ? e.data.barriers.find((b: { name: string }) => b.name === "setup") : undefined);
    try {
      const url = new URL("/api/stream?experiment=real-1", portal.url);
      let first: ReturnType<typeof spawn> | null = null;
      // node0 by --from, node1 by the address a node's setup command has in its environment.
      const held = await readEvents(url, (seen) => seen.some((e) => setupRow(e)?.arrived === 1), async () => (first = sync({}, "-n", "setup", "-i", "2", "--from", "127.0.9.1")));
      expect(setupRow(held.at(-1)!)).toEqual({ name: "setup", kind: "sync", generation: 1, state: "waiting", arrived: 1, total: 3, expected: 2, waiting: ["node0"], code: null });
      const second = sync({ TESTBED_ADDRESS: "127.0.9.2" }, "-n", "setup");
      const two = await readEvents(url, (seen) => seen.some((e) => setupRow(e)?.arrived === 2));
      expect(setupRow(two.at(-1)!)).toMatchObject({ state: "waiting", arrived: 2, expected: 1, waiting: ["node0", "node1"] });
      // An address this machine does not have (a node elsewhere): from the environment it is only a hint, and the request goes from any address.
      const third = sync({ TESTBED_ADDRESS: "192.0.2.3" }, "-n", "setup");
      const released = await readEvents(url, (seen) => seen.some((e) => setupRow(e)?.state === "released"));
      expect(setupRow(released.at(-1)!)).toMatchObject({ state: "released", arrived: 3, expected: 0, waiting: [], code: 0 });
      expect(await exit(first!)).toBe(0);
      expect(await exit(second)).toBe(0);
      expect(await exit(third)).toBe(0);
      // Asked for by --from, an address this machine does not have is refused in one line.
      const refused = await runTestbed(["sync", "-s", `127.0.0.1:${syncPort}`, "-n", "other", "--from", "192.0.2.3"], { timeoutMs: 60_000 });
      expect(refused.code).toBe(76);
      expect(refused.stderr).toBe("testbed: sync: this machine has no address 192.0.2.3 to connect from\n");
    } finally {
      syncd.kill("SIGTERM");
      await exit(syncd);
    }
  });
});
