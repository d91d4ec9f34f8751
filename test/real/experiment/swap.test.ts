import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { collectGarbage } from "../../../real/image/swap.js";
import { openDiskImageStore } from "../../../real/store/index.js";
import { runSwap } from "../../../scenarios/experiment/swap.js";
import { tempDir } from "../frisbee/support.js";
import { diskAndImage, experiment, runner } from "./support.js";

const { dir, cleanup } = tempDir("testbed-real-swap-");
afterAll(cleanup);
const MIB = 2 ** 20;

function disk(name: string, p: number): Buffer {
  return readFileSync(join(dir, "nodes", name, `p${p}`, "part1.img"));
}

describe("real swaps of local nodes", () => {
  const { raw, image } = diskAndImage(dir, 8);

  it("swaps 4 nodes in, out with their disks saved, and in again with every disk byte for byte as it was at swap-out", async () => {
    const store = experiment(dir, "rt-save", image, { saveDiskState: true });
    const run = runner(dir);
    const first = await runSwap({ store, name: "rt-save", action: "swapin", world: "real", real: run, heartbeatSec: 1 });
    expect(first).toMatchObject({ ok: true, state: "active", reason: "swapped in: 4/4 nodes ready" });
    expect(first.extra).toMatchObject({ counters: { baseWrites: 4, deltaWrites: 0 } });
    for (let p = 0; p < 4; p++) expect(disk("rt-save", p).equals(raw)).toBe(true);
    expect(readFileSync(join(dir, "nodes", "rt-save", "p3", "syncserver"), "utf8")).toMatch(/^127\.\d+\.0\.1:\d+\n$/);
    const syncPid = Number(readFileSync(join(dir, "nodes", "rt-save", "p0", "syncd.pid"), "utf8").split(" ")[0]);
    // What users do to their nodes while the experiment is in: new data, data removed, data zeroed.
    const edited: Buffer[] = [];
    for (let p = 0; p < 4; p++) {
      const d = Buffer.from(disk("rt-save", p));
      d.write(`node ${p} was here `.repeat(4000), (p + 1) * MIB);
      d.fill(0, 100_000 * (p + 1), 100_000 * (p + 1) + 65_536);
      d.fill(p + 7, 6 * MIB, 6 * MIB + 300_000);
      writeFileSync(join(dir, "nodes", "rt-save", `p${p}`, "part1.img"), d);
      edited.push(d);
    }
    const out = await runSwap({ store, name: "rt-save", action: "swapout", world: "real", real: run });
    expect(out).toMatchObject({ ok: true, state: "swapped", reason: "swapped out: 4 nodes released, disks saved" });
    expect(() => process.kill(syncPid, 0)).toThrow();
    const saved = store.partitions("rt-save");
    expect(saved.every((p) => p.delta !== null && existsSync(p.delta) && (p.deltaBytes ?? 0) > 0)).toBe(true);
    // Saved as deltas against the image, in the store's disk-state tables the image commands use.
    const disks = openDiskImageStore(join(dir, "testbed.db"));
    try {
      const held = saved.map((p) => disks.nodeDisk(`rt-save/${p.node}`, p.partition));
      expect(held.map((h) => h?.delta)).toEqual(saved.map((p) => p.delta));
      const deltas = held.map((h) => disks.delta(h?.delta as string));
      expect(deltas.map((d) => d?.kind)).toEqual(["delta", "delta", "delta", "delta"]);
      // Each saved a little over 300 KiB of change: far less than the 4 MiB of data in the image.
      for (const d of deltas) expect(d?.dataBytes).toBeLessThan(MIB);
      const base = disks.image(held[0]?.image as string);
      expect(new Set(held.map((h) => h?.image)).size).toBe(1);
      expect(base?.signature !== null && existsSync(base?.signature as string)).toBe(true);
    } finally {
      disks.close();
    }
    expect(collectGarbage(join(dir, "testbed.db"), true)).toMatchObject({ signatures: [], deltas: [] });
    // The nodes are released: whatever is on their disks now is not the experiment's any more.
    for (let p = 0; p < 4; p++) writeFileSync(join(dir, "nodes", "rt-save", `p${p}`, "part1.img"), Buffer.alloc(1000, 0xee));
    const eventsBefore = store.lastEventId();
    const again = await runSwap({ store, name: "rt-save", action: "swapin", world: "real", real: run });
    expect(again).toMatchObject({ ok: true, state: "active" });
    // The writes counted: Frisbee wrote each base once, and each restore laid the delta alone over it
    // (`swapin-node --loaded`), its own report saying so: no base written a second time.
    expect(again.extra).toMatchObject({ counters: { baseWrites: 4, deltaWrites: 4 } });
    const restores = store.eventsAfter(eventsBefore).filter((e) => e.kind === "image.swapin.done");
    expect(restores).toHaveLength(4);
    for (const e of restores) {
      expect(e.data).toMatchObject({ layers: "delta" });
      expect(e.data.bytes as number).toBeLessThan(MIB);
    }
    for (let p = 0; p < 4; p++) expect(disk("rt-save", p).equals(edited[p] as Buffer)).toBe(true);
    expect((await runSwap({ store, name: "rt-save", action: "swapout", world: "real", real: run })).ok).toBe(true);
    store.close();
  });

  it("reports a node killed in the middle of its load, retries it, and completes", async () => {
    const store = experiment(dir, "rt-kill", image, {});
    const run = runner(dir, { bandwidthBps: 12e6 });
    const pidFile = join(dir, "nodes", "rt-kill", "p1", "load.pid");
    let killed = false;
    const swap = runSwap({
      store,
      name: "rt-kill",
      action: "swapin",
      world: "real",
      real: run,
      heartbeatSec: 1,
      onTick: (m) => {
        // Once node1 has written something, kill its Frisbee client outright.
        const v = m.view(1);
        if (killed || !existsSync(pidFile) || v.phase !== "loading" || v.bytesWritten === 0) return;
        killed = true;
        process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      },
    });
    const r = await swap;
    expect(killed).toBe(true);
    expect(r).toMatchObject({ ok: true, state: "active" });
    expect(r.summary.retries.load).toBeGreaterThanOrEqual(1);
    const failed = store.experimentEvents("rt-kill").filter((e) => e.kind === "node.step-failed");
    expect(failed[0]?.data).toMatchObject({ node: "node1", step: "load", attempt: 1, reason: "partition 1: killed by SIGKILL" });
    expect(store.experimentEvents("rt-kill").some((e) => e.kind === "FRISBEEPROGRESS" && e.data.node === "node1")).toBe(true);
    expect(disk("rt-kill", 1).equals(raw)).toBe(true);
    expect((await runSwap({ store, name: "rt-kill", action: "swapout", world: "real", real: run })).ok).toBe(true);
    store.close();
  });

  it("fails a swap-in clearly when a node's setup keeps failing and no spare is left, and releases every node", async () => {
    const store = experiment(dir, "rt-fail", image, { spares: 0, setup: "test {node} != node2 || { echo 'cannot mount /proj' >&2; exit 3; }" });
    const r = await runSwap({ store, name: "rt-fail", action: "swapin", world: "real", real: runner(dir) });
    expect(r).toMatchObject({ ok: false, state: "failed", reason: "1/4 nodes failed: node2: setup failed 3 times (exit 3: cannot mount /proj); no spare left" });
    expect(store.experiment("rt-fail")!.nodes.map((n) => n.phase)).toEqual(["released", "released", "released", "released"]);
    expect(existsSync(join(dir, "nodes", "rt-fail", "p0", "syncd.pid"))).toBe(false);
    store.close();
  });

  it("uses the machines a node file names, reached through a command prefix, and refuses a bad node file in one line", async () => {
    const file = join(dir, "machines.txt");
    writeFileSync(file, "# name address [folder]\nm0 127.79.0.10\nm1 127.79.0.11 far/m1\nm2 127.79.0.12\n");
    const store = experiment(dir, "rt-file", image, { nodes: [{ name: "node", count: 2, image: "std" }], spares: 1, setup: "test -n \"$TESTBED_NODE\"" });
    const run = runner(dir, { nodesFile: file, exec: ["env", "TESTBED_VIA=prefix"] });
    const r = await runSwap({ store, name: "rt-file", action: "swapin", world: "real", real: run });
    expect(r).toMatchObject({ ok: true, state: "active" });
    expect(store.experiment("rt-file")!.nodes.map((n) => [n.node, n.host, n.pnode])).toEqual([["node0", "127.79.0.10", "m0"], ["node1", "127.79.0.11", "m1"]]);
    expect(readFileSync(join(dir, "nodes", "rt-file", "far", "m1", "part1.img")).equals(raw)).toBe(true);
    expect((await runSwap({ store, name: "rt-file", action: "swapout", world: "real", real: run })).ok).toBe(true);
    writeFileSync(file, "m0 127.79.0.10\nm1 not-an-address\n");
    await expect(runSwap({ store, name: "rt-file", action: "swapin", world: "real", real: run })).rejects.toThrow(`${file}:2: "not-an-address" is not an IPv4 address`);
    expect(store.experiment("rt-file")?.state).toBe("swapped");
    store.close();
  });
});
