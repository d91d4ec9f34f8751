import { spawnSync } from "node:child_process";
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runSwap } from "../../../scenarios/experiment/swap.js";
import { tempDir } from "../frisbee/support.js";
import { diskAndImage, experiment, runner } from "./support.js";

/**
 * Nodes as hosts of their own: each in a network namespace, joined to this machine by a veth pair
 * on a bridge, reached through `ip netns exec` as the node file's command prefix. Needs root (CI
 * may not have it): without, it skips and says why; the same flow (node file, command prefix,
 * saved disks) is covered on loopback by swap.test.ts.
 */
const ROOT = process.getuid?.() === 0 && spawnSync("ip", ["-V"]).status === 0;
const WHY = process.getuid?.() !== 0 ? "not root" : "no ip command (iproute2)";
if (!ROOT) console.warn(`real swap across network namespaces skipped: ${WHY}`);

/** Names and a /24 of this test process's own, so runs at once do not meet. */
const TAG = `tbe${process.pid % 100_000}`;
const NET = `10.${200 + (process.pid % 50)}.${(process.pid >> 6) % 250}`;
const NODES = 3;

function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

function makeHosts(): void {
  ip("link", "add", `${TAG}-br`, "type", "bridge");
  ip("addr", "add", `${NET}.1/24`, "dev", `${TAG}-br`);
  ip("link", "set", `${TAG}-br`, "up");
  for (let i = 0; i < NODES; i++) {
    ip("netns", "add", `${TAG}-n${i}`);
    ip("link", "add", `${TAG}-v${i}`, "type", "veth", "peer", "name", "eth0", "netns", `${TAG}-n${i}`);
    ip("link", "set", `${TAG}-v${i}`, "master", `${TAG}-br`, "up");
    ip("-n", `${TAG}-n${i}`, "addr", "add", `${NET}.${10 + i}/24`, "dev", "eth0");
    ip("-n", `${TAG}-n${i}`, "link", "set", "eth0", "up");
    ip("-n", `${TAG}-n${i}`, "link", "set", "lo", "up");
  }
}

function removeHosts(): void {
  for (let i = 0; i < NODES; i++) spawnSync("ip", ["netns", "del", `${TAG}-n${i}`]);
  spawnSync("ip", ["link", "del", `${TAG}-br`]);
}

describe.skipIf(!ROOT)("real swaps of nodes in network namespaces (root)", () => {
  const { dir, cleanup } = tempDir("testbed-netns-swap-");
  afterAll(() => {
    removeHosts();
    cleanup();
  });

  it("swaps nodes in across a bridge, out with their disks saved, and in again byte for byte, each node's commands inside its own namespace", async () => {
    makeHosts();
    const { raw, image } = diskAndImage(dir, 4);
    const nodesFile = join(dir, "hosts.txt");
    writeFileSync(nodesFile, Array.from({ length: NODES }, (_, i) => `n${i} ${NET}.${10 + i}\n`).join(""));
    // Each node's setup notes the network namespace it ran in.
    const store = experiment(dir, "ns-save", image, { nodes: [{ name: "node", count: 2, image: "std" }], spares: 1, saveDiskState: true, setup: "readlink /proc/self/ns/net > netns.txt" });
    const run = runner(dir, { nodesFile, exec: ["ip", "netns", "exec", `${TAG}-{name}`], serverAddress: `${NET}.1` });
    const disk = (host: string): Buffer => readFileSync(join(dir, "nodes", "ns-save", host, "part1.img"));
    const first = await runSwap({ store, name: "ns-save", action: "swapin", world: "real", real: run, heartbeatSec: 1 });
    expect(first.reason).toBe("swapped in: 2/2 nodes ready");
    expect(store.experiment("ns-save")!.nodes.map((n) => [n.node, n.host])).toEqual([["node0", `${NET}.10`], ["node1", `${NET}.11`]]);
    expect(disk("n0").equals(raw) && disk("n1").equals(raw)).toBe(true);
    const ours = readlinkSync("/proc/self/ns/net");
    const theirs = ["n0", "n1"].map((h) => readFileSync(join(dir, "nodes", "ns-save", h, "netns.txt"), "utf8").trim());
    expect(new Set([ours, ...theirs]).size).toBe(3);
    // The sync server runs on node0, in its namespace, at its address.
    expect(readFileSync(join(dir, "nodes", "ns-save", "n1", "syncserver"), "utf8")).toMatch(new RegExp(`^${NET.replaceAll(".", "\\.")}\\.10:\\d+\\n$`));
    const edited = Buffer.from(disk("n1"));
    edited.write("changed inside the namespace ".repeat(100), 3 * 2 ** 20);
    writeFileSync(join(dir, "nodes", "ns-save", "n1", "part1.img"), edited);
    expect(await runSwap({ store, name: "ns-save", action: "swapout", world: "real", real: run })).toMatchObject({ ok: true, state: "swapped" });
    writeFileSync(join(dir, "nodes", "ns-save", "n1", "part1.img"), "gone");
    expect(await runSwap({ store, name: "ns-save", action: "swapin", world: "real", real: run })).toMatchObject({ ok: true, state: "active" });
    expect(disk("n1").equals(edited)).toBe(true);
    expect(disk("n0").equals(raw)).toBe(true);
    expect((await runSwap({ store, name: "ns-save", action: "swapout", world: "real", real: run })).ok).toBe(true);
    store.close();
  });
});
