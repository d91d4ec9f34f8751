import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runFrisbeeBench, udpRcvbufErrors, type Timing } from "../../../real/frisbee/bench.js";
import { partsResult, type PartFigures } from "../../../real/frisbee/bench-parts.js";
import { cpuOfStat, processCpuUs, threadCpu } from "../../../real/frisbee/thread-cpu.js";
import { sameFiles } from "../../../real/image/index.js";
import { endpoint, tempDir } from "./support.js";
import { multicastSkipReason, titled } from "../../support/probes.js";

const MIB = 2 ** 20;
const noMulticast = await multicastSkipReason();
const udpcast = spawnSync("udp-sender", ["--help"]).error === undefined;
const temp = tempDir("testbed-frisbee-bench-test-");
afterAll(() => temp.cleanup());

describe("bench frisbee at a small size", () => {
  // The bench's figures are wall times and are not checked here (a loaded machine may take any
  // time); what is checked is that each run really loaded the disk, byte for byte, and that the
  // ratios are made of the times printed beside them.
  it.skipIf(noMulticast !== null)(titled("loads the disk through ours (1 and 2 receivers), the local unzip and udpcast, each target identical", noMulticast), async () => {
    const lines: string[] = [];
    const r = await runFrisbeeBench({ sizeBytes: 4 * MIB, seed: 3, bandwidth: "1Gbit", bandwidthBps: 1e9, port: endpoint().port, dir: temp.dir, log: (l) => lines.push(l) });
    expect(r.sizeMiB).toBe(4);
    expect(r.chunks).toBeGreaterThan(0);
    for (const t of [r.limit, r.ours1, r.ours2]) {
      expect(t.identical).toBe(true);
      expect(t.seconds).toBeGreaterThan(0);
      expect(t.load1).toBeGreaterThanOrEqual(0);
      expect(t.rcvbufErrors === null || t.rcvbufErrors >= 0).toBe(true);
    }
    expect(r.twoVsOne).toBeCloseTo(r.ours2.seconds / r.ours1.seconds, 9);
    expect(r.fractionOfLimit).toBeCloseTo(r.limit.seconds / r.ours1.seconds, 9);
    checkCpu(r.ours1, ["frisbeed", "frisbee 1"]);
    checkCpu(r.ours2, ["frisbeed", "frisbee 1", "frisbee 2"]);
    checkParts(r.parts, r.chunks, lines);
    if (!udpcast) {
      expect(r.udpcast).toBeNull();
      expect(r.udpcastMissing).toMatch(/udp-sender not found/);
      console.warn("bench frisbee test: udpcast's row not checked: udp-sender is not installed (Debian package udpcast)");
      return;
    }
    expect(lines.join("\n")).toMatch(/--rexmit-hello-interval 10/);
    expect(r.udpcast!.receiver.identical).toBe(true);
    expect(r.udpcast!.sender.seconds).toBeGreaterThan(0);
    expect(r.ratioVsUdpcast).toBeCloseTo(r.ours1.seconds / r.udpcast!.receiver.seconds, 9);
    expect(r.ratioVsUdpcastSender).toBeCloseTo(r.ours1.seconds / r.udpcast!.sender.seconds, 9);
    checkCpu(r.udpcast!.receiver, ["udp-sender", "udp-receiver"]);
    if (r.udpcast!.receiver.cpuTotalSec !== null && r.ours1.cpuTotalSec !== null && r.udpcast!.receiver.cpuTotalSec > 0) {
      expect(r.cpuRatioVsUdpcast).toBeCloseTo(r.ours1.cpuTotalSec / r.udpcast!.receiver.cpuTotalSec, 9);
    }
  });

  it("names as the limit the part that takes longest alone, the CPU of all of them over the cores included", () => {
    const figures = (part: PartFigures["part"], items: number, wallSec: number, cpuUs: number): PartFigures => ({ part, items, bytes: items * 1024, wallSec, cpuUs, mainCpuUs: null, othersCpuUs: null });
    const send = figures("send", 1000, 0.5, 400_000);
    const receive = figures("receive", 1000, 0.6, 300_000);
    const inflate = figures("inflate", 2, 0.2, 200_000);
    const write = figures("write", 3, 0.1, 100_000);
    // 2,000 datagrams: send 1 s of wall; receive 2,000 x 300 us = 0.6 s of CPU; all CPU (2,000 x 700 us + 0.3 s) over 2 cores.
    const p = partsResult(send, receive, inflate, write, 2000, 2);
    expect(p.sendCpuUsPerDatagram).toBe(400);
    expect(p.receiveCpuUsPerDatagram).toBe(300);
    expect(p.aloneSec).toEqual({ send: 1, receive: 0.6, inflate: 0.2, write: 0.1, cpu: 0.85 });
    expect(p.limit).toBe("send");
    expect(partsResult(send, receive, { ...inflate, wallSec: 1.5 }, write, 2000, 2).limit).toBe("inflate");
    expect(partsResult(send, receive, inflate, { ...write, wallSec: 2 }, 2000, 2).limit).toBe("write");
    expect(partsResult(send, receive, inflate, write, 2000, 1).limit).toBe("cpu");
    expect(partsResult(send, { ...receive, cpuUs: 800_000 }, inflate, write, 2000, 4).limit).toBe("receive");
  });

  it("reads CPU times from /proc stat lines, this process's threads and a running process", () => {
    // utime 150 and stime 50 ticks (fields 14 and 15); the name may hold spaces and parentheses.
    const stat = "4242 (node (main) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 11 0 100 0 0";
    expect(cpuOfStat(stat)).toBe(2_000_000);
    expect(() => cpuOfStat("garbage")).toThrow(/not a \/proc stat line/);
    if (!existsSync("/proc/self/task")) return expect(threadCpu()).toBeNull();
    const t = threadCpu();
    expect(t!.mainUs).toBeGreaterThanOrEqual(0);
    expect(t!.othersUs).toBeGreaterThanOrEqual(0);
    expect(processCpuUs(process.pid)).toBeGreaterThan(0);
    expect(processCpuUs(2 ** 30)).toBeNull();
  });

  it("udpRcvbufErrors reads the host's counter where /proc/net/snmp has it", () => {
    if (!existsSync("/proc/net/snmp")) return expect(udpRcvbufErrors()).toBeNull();
    // The sixth field of the second Udp line; other programs' drops may move it between reads.
    const read = (): number => Number(readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Udp: "))[1]?.trim().split(/\s+/)[5]);
    const before = read();
    const drops = udpRcvbufErrors();
    const after = read();
    expect(drops).toBeGreaterThanOrEqual(before);
    expect(drops).toBeLessThanOrEqual(after);
  });

  it("sameFiles, the bench's check of every target, tells a file that differs anywhere", () => {
    const a = Buffer.alloc(MIB + 10, 7);
    const write = (name: string, b: Buffer): string => {
      const p = join(temp.dir, name);
      writeFileSync(p, b);
      return p;
    };
    const pa = write("a", a);
    expect(sameFiles(pa, write("same", Buffer.from(a)))).toBe(true);
    const lastByte = Buffer.from(a);
    lastByte[MIB + 9] = 8;
    expect(sameFiles(pa, write("last-byte", lastByte))).toBe(false);
    expect(sameFiles(pa, write("shorter", a.subarray(0, MIB + 9)))).toBe(false);
    expect(sameFiles(pa, write("one-mib", a.subarray(0, MIB)))).toBe(false);
  });
});

/** Where /usr/bin/time reports them, each process's CPU is there and the total is their sum. */
function checkCpu(t: Timing, names: string[]): void {
  if (!existsSync("/usr/bin/time")) return expect(t.cpuSec).toBeNull();
  expect(Object.keys(t.cpuSec!).sort()).toEqual([...names].sort());
  for (const sec of Object.values(t.cpuSec!)) expect(sec).toBeGreaterThanOrEqual(0);
  expect(t.cpuTotalSec).toBeCloseTo(Object.values(t.cpuSec!).reduce((a, b) => a + b, 0), 9);
}

/** Each part alone really did its whole job, its figures are positive and finite, and the limit is the slowest. */
function checkParts(p: Awaited<ReturnType<typeof runFrisbeeBench>>["parts"], chunks: number, lines: string[]): void {
  expect(p).not.toBeNull();
  const parts = p!;
  expect(lines.filter((l) => l.startsWith("parts:"))).toHaveLength(4);
  expect(parts.send.items).toBe(parts.blocks);
  expect(parts.receive.items).toBeGreaterThanOrEqual(parts.blocks);
  expect(parts.inflate.items).toBe(chunks);
  // The writes are the inflated regions: the same bytes, free space left out.
  expect(parts.write.bytes).toBe(parts.inflate.bytes);
  expect(parts.write.items).toBeGreaterThanOrEqual(1);
  expect(parts.write.syncSec).toBeGreaterThan(0);
  expect(parts.write.syncSec).toBeLessThanOrEqual(parts.write.wallSec);
  for (const f of [parts.send, parts.receive, parts.inflate]) {
    expect(f.wallSec).toBeGreaterThan(0);
    expect(f.cpuUs).toBeGreaterThan(0);
  }
  expect(parts.sendCpuUsPerDatagram).toBeGreaterThan(0);
  expect(parts.receiveCpuUsPerDatagram).toBeGreaterThan(0);
  for (const sec of Object.values(parts.aloneSec)) expect(Number.isFinite(sec) && sec > 0).toBe(true);
  expect(parts.aloneSec[parts.limit]).toBe(Math.max(...Object.values(parts.aloneSec)));
}
