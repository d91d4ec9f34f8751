import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diskAllocation, fdReader } from "../../../real/image/allocation.js";
import { ImageIoError, readFully, sourceSizeBytes, writeFully } from "../../../real/image/source.js";

/*
 * The image code's file access (real/image/source.ts) and its synchronous disk reader
 * (allocation.ts), called in-process: every refusal's message and exit class, short reads and
 * writes, and the end of the input.
 */
const dir = mkdtempSync(join(tmpdir(), "testbed-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);

function thrown(f: () => unknown): ImageIoError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ImageIoError);
    return error as ImageIoError;
  }
  throw new Error("nothing thrown");
}

describe("sourceSizeBytes", () => {
  it("gives a regular file's size", () => {
    writeFileSync(p("three.raw"), Buffer.alloc(3 * 512, 1));
    expect(sourceSizeBytes(p("three.raw"))).toBe(1536);
  });

  it("refuses what is missing, not a file, or behind a file, in one line naming the path (bad input: exit 2)", () => {
    const missing = thrown(() => sourceSizeBytes(p("missing.raw")));
    expect(missing.message).toBe(`${p("missing.raw")}: no such file or device`);
    expect(missing.badInput).toBe(true);
    writeFileSync(p("plain"), "x");
    const behind = thrown(() => sourceSizeBytes(join(p("plain"), "inside")));
    expect(behind.message).toBe(`${join(p("plain"), "inside")}: a part of the path is not a directory`);
    expect(behind.badInput).toBe(true);
    mkdirSync(p("folder"));
    const folder = thrown(() => sourceSizeBytes(p("folder")));
    expect(folder.message).toBe(`${p("folder")}: is a directory, not a regular file or block device`);
    expect(folder.badInput).toBe(true);
    const device = thrown(() => sourceSizeBytes("/dev/null"));
    expect(device.message).toBe("/dev/null: not a regular file or block device");
    expect(device.badInput).toBe(true);
  });
});

/*
 * A block device's size comes from /sys/class/block/<name>/size (in 512-byte sectors), found by the
 * device node's name. A node made with mknod under the name of a device sysfs lists (never
 * opened) and one under a name it does not list need root; without it these are skipped, visibly.
 */
const root = typeof process.getuid === "function" && process.getuid() === 0;
const sized = existsSync("/sys/class/block")
  ? readdirSync("/sys/class/block").find((n) => Number(readFileSync(`/sys/class/block/${n}/size`, "utf8")) > 0 && existsSync(`/sys/class/block/${n}/dev`))
  : undefined;
const why = !root ? "needs root for mknod" : sized === undefined ? "needs a block device of non-zero size in /sys/class/block" : "";
if (why !== "") console.warn(`SKIPPED: block-device sizes in source.test.ts: ${why}`);

describe.skipIf(why !== "")("sourceSizeBytes of a block device", () => {
  it("reads its size in sectors from sysfs, by the node's name", () => {
    const name = sized!;
    const [major, minor] = readFileSync(`/sys/class/block/${name}/dev`, "utf8").trim().split(":");
    mkdirSync(p("dev"), { recursive: true });
    expect(spawnSync("mknod", [p(`dev/${name}`), "b", major!, minor!]).status).toBe(0);
    expect(sourceSizeBytes(p(`dev/${name}`))).toBe(Number(readFileSync(`/sys/class/block/${name}/size`, "utf8")) * 512);
  });

  it("refuses a device sysfs does not know, naming it", () => {
    mkdirSync(p("dev"), { recursive: true });
    expect(spawnSync("mknod", [p("dev/nosuchdisk"), "b", "7", "250"]).status).toBe(0);
    const e = thrown(() => sourceSizeBytes(p("dev/nosuchdisk")));
    expect(e.message).toBe(`${p("dev/nosuchdisk")}: cannot find the size of block device nosuchdisk in /sys/class/block`);
    expect(e.badInput).toBe(true);
  });
});

/** A FileHandle stand-in over `bytes` that reads and writes at most `step` bytes a call, and logs each call. */
function stingyHandle(bytes: Uint8Array, step: number): { fh: FileHandle; calls: [number, number, number][] } {
  const calls: [number, number, number][] = [];
  const fh = {
    read: async (buf: Uint8Array, offset: number, length: number, position: number) => {
      calls.push([offset, length, position]);
      const n = Math.max(0, Math.min(step, length, bytes.length - position));
      buf.set(bytes.subarray(position, position + n), offset);
      return { bytesRead: n, buffer: buf };
    },
    write: async (data: Uint8Array, offset: number, length: number, position: number) => {
      calls.push([offset, length, position]);
      const n = Math.min(step, length);
      bytes.set(data.subarray(offset, offset + n), position);
      return { bytesWritten: n, buffer: data };
    },
  };
  return { fh: fh as unknown as FileHandle, calls };
}

describe("readFully and writeFully", () => {
  const data = Uint8Array.from({ length: 100 }, (_, i) => i);

  it("retry short reads from where the last one stopped, into the right place", async () => {
    const { fh, calls } = stingyHandle(data, 7);
    const buf = new Uint8Array(30);
    await readFully(fh, buf, 30, 50, "disk.raw");
    expect([...buf]).toEqual(Array.from({ length: 30 }, (_, i) => 50 + i));
    expect(calls.slice(0, 3)).toEqual([[0, 30, 50], [7, 23, 57], [14, 16, 64]]);
    expect(calls).toHaveLength(5);
  });

  it("call the end of the input an error, naming the file and the byte where it ran out (a read failure: exit 1)", async () => {
    const { fh } = stingyHandle(data, 7);
    const error = await readFully(fh, new Uint8Array(30), 30, 80, "disk.raw").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageIoError);
    expect((error as ImageIoError).message).toBe("disk.raw: unexpected end of input at byte 100");
    expect((error as ImageIoError).badInput).toBe(false);
  });

  it("retry short writes until all is written", async () => {
    const target = new Uint8Array(100);
    const { fh, calls } = stingyHandle(target, 9);
    await writeFully(fh, data.subarray(0, 20), 40);
    expect([...target.subarray(40, 60)]).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(target.subarray(0, 40).every((b) => b === 0) && target.subarray(60).every((b) => b === 0)).toBe(true);
    expect(calls).toEqual([[0, 20, 40], [9, 11, 49], [18, 2, 58]]);
  });
});

describe("fdReader (the layout parser's synchronous reader)", () => {
  it("reads what it is asked and refuses reads outside the disk", () => {
    const file = p("small.raw");
    writeFileSync(file, Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff));
    const fd = openSync(file, "r");
    try {
      const reader = fdReader(fd, 4096, file);
      expect(reader.sizeBytes).toBe(4096);
      expect([...reader.read(510, 4)]).toEqual([254, 255, 0, 1]);
      expect(reader.read(4000, 96)).toHaveLength(96);
      expect(() => reader.read(-1, 2)).toThrow("DiskReader: read [-1, +2) outside 4096 bytes");
      expect(() => reader.read(4000, 97)).toThrow("DiskReader: read [4000, +97) outside 4096 bytes");
    } finally {
      closeSync(fd);
    }
  });

  it("names the byte where a file shorter than its stated size ends", () => {
    const file = p("short.raw");
    writeFileSync(file, Buffer.alloc(2048, 3));
    const fd = openSync(file, "r");
    try {
      const e = thrown(() => fdReader(fd, 4096, file).read(1024, 2048));
      expect(e.message).toBe(`${file}: unexpected end of input at byte 2048`);
    } finally {
      closeSync(fd);
    }
  });
});

describe("diskAllocation with file systems ignored", () => {
  it("reads the whole disk as raw, in use wherever a block is not all zeros", () => {
    const disk = new Uint8Array(8 * 4096);
    disk[4096 + 7] = 1;
    disk[6 * 4096] = 2;
    const a = diskAllocation({ sizeBytes: disk.length, read: (o, l) => disk.subarray(o, o + l) }, 4096, false);
    expect(a.layout).toEqual({
      table: "none", partitions: [], fsAreas: [], fsInUse: [], rawAreas: [{ startSector: 0, sectorCount: 64 }],
      notes: ["file systems ignored: raw, all-zero blocks skipped"],
    });
    expect(a.inUse(disk, 0, false)).toEqual([{ startSector: 8, sectorCount: 8 }, { startSector: 48, sectorCount: 8 }]);
  });
});
