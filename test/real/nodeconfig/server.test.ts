import { connect, type Socket } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askNodeConfig } from "../../../real/nodeconfig/client.js";
import { startNodeConfigServer, type RunningNodeConfig } from "../../../real/nodeconfig/server.js";
import { openExperimentStore, type ExperimentStore } from "../../../real/store/index.js";
import { parseExperiment } from "../../../scenarios/experiment/schema.js";

const A = "127.77.0.1";
const B = "127.77.0.2";
const C = "127.77.1.1";
let store: ExperimentStore;
let server: RunningNodeConfig;
const readied: string[] = [];
const events: string[] = [];

function make(name: string, nodes: string[], hosts: string[], syncServer: string | null): void {
  store.createFromSpec(parseExperiment(JSON.stringify({ name, nodes: nodes.map((n) => ({ name: n, partitions: [{ partition: 2, image: "std" }] })), images: { std: { size: "8MiB", data: "24MiB" } }, syncServer }), `${name}.json`));
  store.setNodeHosts(name, new Map(nodes.map((n, i) => [n, hosts[i] as string])));
}

beforeAll(async () => {
  store = openExperimentStore(":memory:");
  make("e1", ["a", "b"], [A, B], "b");
  make("e2", ["c"], [C], null);
  store.transition("e1", "swapin", "", "real");
  store.transition("e2", "swapin", "", "real");
  store.setServing("e1", { images: { std: { group: "239.192.9.1", port: 7711, chunks: 5 } }, heartbeatSec: 5, syncPort: 17001 });
  store.setDelta("e1", "b", 2, "/saved/e1/b-part2.ndz", 1234);
  server = await startNodeConfigServer({ host: "127.0.0.1", port: 0, store, events: { emit: (kind) => events.push(kind) }, onReady: (e, n) => readied.push(`${e}/${n}`), connectionsPerPeerMax: 4 });
});
afterAll(async () => {
  await server.close();
  store.close();
});

const ask = (from: string, command: "loadinfo" | "syncserver" | "ready" | "readycount" | "nodeid") => askNodeConfig({ host: "127.0.0.1", port: server.port, localAddress: from, command });

describe("the node-configuration server", () => {
  it("tells a node what to load, from the store, with HEARTBEAT from the swap and its saved delta", async () => {
    expect(await ask(A, "loadinfo")).toEqual(["ADDR=239.192.9.1:7711 PART=2 PARTOS=Linux DISK=ad1 ZFILL=0 IMAGEID=testbed,testbed,std IMAGECHUNKS=5 HEARTBEAT=5"]);
    expect(await ask(B, "loadinfo")).toEqual(["ADDR=239.192.9.1:7711 PART=2 PARTOS=Linux DISK=ad1 ZFILL=0 IMAGEID=testbed,testbed,std IMAGECHUNKS=5 HEARTBEAT=5 DELTA=/saved/e1/b-part2.ndz"]);
  });

  it("names the sync server, and whether the asking node is it", async () => {
    expect(await ask(A, "syncserver")).toEqual([`SYNCSERVER SERVER='${B}' ISSERVER=0 PORT=17001`]);
    expect(await ask(B, "syncserver")).toEqual([`SYNCSERVER SERVER='${B}' ISSERVER=1 PORT=17001`]);
    expect(await ask(C, "syncserver")).toEqual([]);
  });

  it("tells a node only about its own experiment, and an unknown address nothing", async () => {
    expect(await ask(C, "nodeid")).toEqual(["NODEID=c EXPERIMENT=e2"]);
    expect(await ask(C, "loadinfo")).toEqual([]);
    const before = server.stats.unknownPeers;
    expect(await ask("127.77.0.9", "loadinfo")).toEqual([]);
    expect(server.stats.unknownPeers).toBe(before + 1);
    expect(events).toContain("nodeconfig.unknown-peer");
  });

  it("counts ready bits as Emulab's readycount does", async () => {
    expect(await ask(A, "readycount")).toEqual(["READY=0 TOTAL=2"]);
    expect(await ask(A, "ready")).toEqual([]);
    expect(await ask(B, "readycount")).toEqual(["READY=1 TOTAL=2"]);
    expect(readied).toEqual(["e1/a"]);
    expect(await ask(C, "readycount")).toEqual(["READY=0 TOTAL=1"]);
  });

  it("answers a bad request with nothing and keeps serving", async () => {
    const raw = (bytes: Buffer | string, from = A): Promise<string> =>
      new Promise((resolve) => {
        const s = connect({ host: "127.0.0.1", port: server.port, localAddress: from });
        let text = "";
        s.on("data", (d) => (text += d.toString()));
        s.on("error", () => resolve(text));
        s.on("close", () => resolve(text));
        s.end(bytes);
      });
    expect(await raw("reboot\n")).toBe("");
    expect(await raw("x".repeat(300))).toBe("");
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => void (await raw(Buffer.from(bytes)))), { numRuns: 40 });
    expect(await ask(A, "nodeid")).toEqual(["NODEID=a EXPERIMENT=e1"]);
  });

  it("refuses connections past its limit per address, and still serves other addresses", async () => {
    const idle: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = connect({ host: "127.0.0.1", port: server.port, localAddress: A });
      await new Promise((r) => s.once("connect", r));
      idle.push(s);
    }
    await new Promise((r) => setTimeout(r, 50));
    const refused = server.stats.refused;
    await expect(ask(A, "nodeid")).resolves.toEqual([]);
    expect(server.stats.refused).toBe(refused + 1);
    expect(await ask(B, "nodeid")).toEqual(["NODEID=b EXPERIMENT=e1"]);
    for (const s of idle) s.destroy();
  });
});
