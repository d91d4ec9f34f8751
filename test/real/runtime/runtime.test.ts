import { closeSync, openSync, readFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/index.js";
import { FileDisk, GROUP, MulticastNet, NetError, openTarget, WallTimers, wallClock } from "../../../real/runtime/index.js";
import { endpoint, LO, tempDir } from "../frisbee/support.js";
import { multicastSkipReason, titled } from "../../support/probes.js";

const noMulticast = await multicastSkipReason();

const temp = tempDir("testbed-runtime-");
afterAll(temp.cleanup);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits for what a test expects to happen, however slow the machine (the test's timeout bounds it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(5);
}

describe("WallTimers", () => {
  it("never fires a timer before its time, and a re-armed timer fires once, at its new time", async () => {
    const clock = wallClock();
    const fired: { id: number; atUs: number }[] = [];
    const timers = new WallTimers(clock, (id) => fired.push({ id, atUs: clock.now() }));
    const start = clock.now();
    timers.set(1, start + 1_500);
    timers.set(2, start + 30_000);
    timers.set(2, start + 5_000);
    timers.set(3, start + 2_000);
    timers.cancel(3);
    timers.set(4, start - 10);
    await until(() => fired.length >= 3);
    // Past the first time timer 2 was armed for: it must not fire a second time.
    await until(() => clock.now() > start + 40_000);
    expect(fired.map((f) => f.id).sort()).toEqual([1, 2, 4]);
    expect((fired.find((f) => f.id === 1)?.atUs ?? 0) - start).toBeGreaterThanOrEqual(1_500);
    expect((fired.find((f) => f.id === 2)?.atUs ?? 0) - start).toBeGreaterThanOrEqual(5_000);
  });

  it("fires nothing after close", async () => {
    const fired: number[] = [];
    const clock = wallClock();
    const timers = new WallTimers(clock, (id) => fired.push(id));
    timers.set(1, clock.now() + 2_000);
    timers.close();
    timers.set(2, clock.now());
    await sleep(20);
    expect(fired).toEqual([]);
  });
});

describe.skipIf(noMulticast !== null)(titled("MulticastNet on loopback", noMulticast), () => {
  async function pair(dropRate?: number, seed = 1): Promise<[MulticastNet, MulticastNet, { port: number; group: string }]> {
    const e = endpoint();
    const a = await MulticastNet.open({ ...e, iface: LO, ownPort: true, fastGroupSend: true });
    const b = await MulticastNet.open({ ...e, iface: LO, ownPort: false, fastGroupSend: false, ...(dropRate === undefined ? {} : { dropRate, rng: createRng(seed) }) });
    return [a, b, e];
  }

  it("carries group datagrams to the others but not back to the sender, and unicast replies to the asker", async () => {
    const [server, client, e] = await pair();
    const atServer: [number, number, string][] = [];
    const atClient: [number, number, string][] = [];
    server.onReceive((from, port, bytes) => {
      atServer.push([from, port, Buffer.from(bytes).toString()]);
      server.send(from, port, new TextEncoder().encode("reply"));
    });
    client.onReceive((from, port, bytes) => atClient.push([from, port, Buffer.from(bytes).toString()]));
    client.send(GROUP, e.port, new TextEncoder().encode("join"));
    server.send(GROUP, e.port, new TextEncoder().encode("block"));
    await until(() => atServer.length >= 1 && atClient.length >= 2);
    expect(atServer.map((m) => m[2])).toEqual(["join"]);
    expect(atClient.map((m) => m[2]).sort()).toEqual(["block", "reply"]);
    expect(server.peerIp(atServer[0]?.[0] ?? -1)).toBe(LO);
    expect(atClient.find((m) => m[2] === "reply")?.[1]).toBe(e.port);
    server.close();
    client.close();
  });

  it("drops the same seeded fraction of arriving datagrams on every run with the same seed", async () => {
    const runs: string[] = [];
    for (let run = 0; run < 2; run++) {
      const [server, client, e] = await pair(0.3, 42);
      const kept: number[] = [];
      client.onReceive((_f, _p, bytes) => kept.push(bytes[0] as number));
      for (let i = 0; i < 100; i++) server.send(GROUP, e.port, Uint8Array.of(i));
      await until(() => client.stats.dropped + kept.length >= 100);
      runs.push(kept.join(","));
      expect(client.stats.dropped + kept.length).toBe(100);
      expect(client.stats.dropped).toBeGreaterThan(15);
      expect(client.stats.dropped).toBeLessThan(45);
      server.close();
      client.close();
    }
    expect(runs[0]).toBe(runs[1]);
  });

  it("refuses a port held by another socket, a second server, and a group that is not multicast, each in one line", async () => {
    const e = endpoint();
    const squatter = createSocket("udp4");
    await new Promise<void>((r) => squatter.bind(e.port, r));
    await expect(MulticastNet.open({ ...e, iface: LO, ownPort: false, fastGroupSend: false })).rejects.toThrow(new NetError(`UDP port ${e.port} is already in use (127.0.0.1, group ${e.group})`));
    squatter.close();
    const first = await MulticastNet.open({ ...e, iface: LO, ownPort: true, fastGroupSend: true });
    await expect(MulticastNet.open({ ...e, iface: LO, ownPort: true, fastGroupSend: true })).rejects.toThrow(/already in use/);
    first.close();
    await expect(MulticastNet.open({ group: "10.1.2.3", port: e.port, iface: LO, ownPort: false, fastGroupSend: false })).rejects.toThrow(/not a multicast address/);
  });
});

describe("FileDisk", () => {
  it("writes at positions, writes runs of zeros, reads back, and completes each operation once", async () => {
    const path = join(temp.dir, "disk.img");
    const target = openTarget(path, false);
    expect(target.capacityBytes).toBe(Infinity);
    const done: [number, string | null][] = [];
    const disk = new FileDisk(target.fd, target.capacityBytes, (op, error) => done.push([op, error]));
    disk.write(1, 3 * 2 ** 20, new Uint8Array(10).fill(7));
    disk.write(2, 2 ** 20, 2 * 2 ** 20);
    disk.write(3, 0, Uint8Array.of(1, 2, 3));
    await until(() => done.length >= 3);
    expect(done.sort()).toEqual([[1, null], [2, null], [3, null]]);
    closeSync(target.fd);
    const bytes = readFileSync(path);
    expect(bytes.byteLength).toBe(3 * 2 ** 20 + 10);
    expect([...bytes.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
    expect(bytes.subarray(2 ** 20, 3 * 2 ** 20).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(3 * 2 ** 20).every((b) => b === 7)).toBe(true);
  });

  it("sees a fixed-size file as a disk of its present size", () => {
    const path = join(temp.dir, "fixed.img");
    closeSync(openSync(path, "w"));
    const target = openTarget(path, true);
    expect(target.capacityBytes).toBe(0);
    closeSync(target.fd);
  });
});
