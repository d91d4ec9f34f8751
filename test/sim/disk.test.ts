import { describe, expect, it } from "vitest";
import { createRng } from "../../core/engine/rng.js";
import { SimDisk, type DiskSpec } from "../../sim/disk.js";
import { World } from "../../sim/world.js";
import { installRecorder, link100 } from "./support.js";

const MB = 1_000_000;

/** 1 GB, writes at 50 MB/s, reads at 100 MB/s, 200 us per operation, no faults. */
function spec(overrides: Partial<DiskSpec> = {}): DiskSpec {
  return {
    sizeBytes: 1_000 * MB,
    writeBytesPerSec: 50 * MB,
    readBytesPerSec: 100 * MB,
    latencyUs: 200,
    writeErrorRate: 0,
    badRanges: [],
    keepData: true,
    ...overrides,
  };
}

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

describe("SimDisk timing", () => {
  it("finishes a 1 MB write at 50 MB/s after 200 us latency plus 20,000 us", () => {
    const disk = new SimDisk(spec(), createRng(1));
    expect(disk.scheduleWrite(1_000, 0, MB)).toEqual([1_000 + 200 + 20_000, null]);
  });

  it("finishes a 1 MB read at 100 MB/s after 200 us latency plus 10,000 us", () => {
    const disk = new SimDisk(spec(), createRng(1));
    expect(disk.scheduleRead(0, 0, MB)[0]).toBe(200 + 10_000);
  });

  it("rounds a fraction of a microsecond of transfer up", () => {
    // 1 byte at 50 MB/s is 0.02 us.
    const disk = new SimDisk(spec(), createRng(1));
    expect(disk.scheduleWrite(0, 0, 1)[0]).toBe(201);
  });

  it("serves operations one at a time in the order they were issued", () => {
    // Write 1 MB (20,200 us), read 1 MB (10,200 us), write 0.5 MB (10,200 us), all issued at 0.
    const disk = new SimDisk(spec(), createRng(1));
    const done = [
      disk.scheduleWrite(0, 0, MB)[0],
      disk.scheduleRead(0, 0, MB)[0],
      disk.scheduleWrite(0, MB, MB / 2)[0],
    ];
    expect(done).toEqual([20_200, 30_400, 40_600]);
    expect(disk.stats.busyUs).toBe(40_600);
  });

  it("starts an operation issued after the disk went idle right away", () => {
    const disk = new SimDisk(spec(), createRng(1));
    disk.scheduleWrite(0, 0, MB);
    expect(disk.scheduleWrite(50_000, 0, MB)[0]).toBe(50_000 + 20_200);
  });
});

describe("SimDisk data", () => {
  it("reads back what was written, across 64 KiB block boundaries", () => {
    const disk = new SimDisk(spec(), createRng(1));
    const data = bytes(200_000, 7);
    expect(disk.scheduleWrite(0, 65_000, data)[1]).toBeNull();
    const [, error, read] = disk.scheduleRead(0, 65_000, 200_000);
    expect(error).toBeNull();
    expect(Buffer.compare(read!, data)).toBe(0);
    expect(read!.byteLength).toBe(200_000);
  });

  it("reads unwritten bytes as zero", () => {
    const disk = new SimDisk(spec(), createRng(1));
    disk.scheduleWrite(0, 10, bytes(5, 1));
    const read = disk.readNow(0, 20);
    expect(Array.from(read.subarray(0, 10))).toEqual(new Array(10).fill(0));
    expect(read.subarray(10, 15)).toEqual(bytes(5, 1));
    expect(Array.from(read.subarray(15))).toEqual(new Array(5).fill(0));
  });

  it("zeroes a range when the write is given as a length", () => {
    const disk = new SimDisk(spec(), createRng(1));
    disk.scheduleWrite(0, 0, bytes(100, 3));
    disk.scheduleWrite(0, 10, 20);
    const read = disk.readNow(0, 100);
    expect(Array.from(read.subarray(10, 30))).toEqual(new Array(20).fill(0));
    expect(read.subarray(30)).toEqual(bytes(100, 3).subarray(30));
  });

  it("keeps nothing when keepData is off, yet counts the bytes", () => {
    const disk = new SimDisk(spec({ keepData: false }), createRng(1));
    disk.scheduleWrite(0, 0, bytes(100, 3));
    expect(Array.from(disk.readNow(0, 100))).toEqual(new Array(100).fill(0));
    expect(disk.stats.writeBytes).toBe(100);
  });
});

describe("SimDisk faults", () => {
  it("fails a write that touches a bad range and stores none of it", () => {
    const disk = new SimDisk(spec({ badRanges: [{ offset: 4_096, length: 512 }] }), createRng(1));
    const [doneUs, error] = disk.scheduleWrite(0, 4_000, bytes(200, 9));
    expect(error).toMatch(/bad sector at offset 4096/);
    expect(doneUs).toBe(200 + 4); // a failed write still took the disk's time: 200 bytes at 50 MB/s is 4 us
    expect(Array.from(disk.readNow(4_000, 200))).toEqual(new Array(200).fill(0));
    expect(disk.stats).toMatchObject({ writes: 1, writeErrors: 1, writeBytes: 0 });
  });

  it("writes just beside a bad range", () => {
    const disk = new SimDisk(spec({ badRanges: [{ offset: 4_096, length: 512 }] }), createRng(1));
    expect(disk.scheduleWrite(0, 0, bytes(4_096, 1))[1]).toBeNull();
    expect(disk.scheduleWrite(0, 4_608, bytes(100, 1))[1]).toBeNull();
  });

  it("fails a write past the end of the disk and stores none of it", () => {
    const disk = new SimDisk(spec({ sizeBytes: 1_000 }), createRng(1));
    const [, error] = disk.scheduleWrite(0, 900, bytes(200, 5));
    expect(error).toMatch(/outside the disk/);
    expect(Array.from(disk.readNow(900, 100))).toEqual(new Array(100).fill(0));
    expect(disk.scheduleWrite(0, -1, 1)[1]).toMatch(/outside the disk/);
    expect(disk.scheduleWrite(0, 0, bytes(1_000, 5))[1]).toBeNull();
  });

  it("fails a read past the end of the disk with no data", () => {
    const disk = new SimDisk(spec({ sizeBytes: 1_000 }), createRng(1));
    const [, error, data] = disk.scheduleRead(0, 999, 2);
    expect(error).toMatch(/outside the disk/);
    expect(data).toBeUndefined();
  });

  it("fails writes at a measured rate within five binomial sigmas of writeErrorRate", () => {
    const n = 20_000;
    const rate = 0.05;
    const disk = new SimDisk(spec({ writeErrorRate: rate, keepData: false }), createRng("werr"));
    let failed = 0;
    for (let i = 0; i < n; i++) if (disk.scheduleWrite(0, 0, 4_096)[1] !== null) failed++;
    expect(Math.abs(failed - n * rate)).toBeLessThan(5 * Math.sqrt(n * rate * (1 - rate)));
    expect(disk.stats.writeErrors).toBe(failed);
  });
});

describe("SimDisk in a world", () => {
  it("reports write and read completions to the process at the disk's times, with the bytes read", () => {
    const world = new World("disk");
    const host = world.addHost("node", link100());
    world.attachDisk(host, spec());
    const proc = installRecorder(world, host, 1, (env) => {
      env.disk!.write(1, 0, bytes(MB, 2));
      env.disk!.read(2, 0, MB);
      env.disk!.write(3, 2_000 * MB, 10);
    });
    world.run();
    expect(proc.current().log).toEqual([
      "start @0",
      "disk 1 ok @20200",
      `disk 2 ok ${MB}B @30400`,
      expect.stringMatching(/^disk 3 offset 2000000000 length 10 is outside the disk .* @30601$/),
    ]);
  });
});
