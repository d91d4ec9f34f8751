import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runFrisbeeBench, udpRcvbufErrors } from "../../../real/frisbee/bench.js";
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
    const r = await runFrisbeeBench({ sizeBytes: 4 * MIB, seed: 3, bandwidth: "1Gbit", port: endpoint().port, dir: temp.dir, log: (l) => lines.push(l) });
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
