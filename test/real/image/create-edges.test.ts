import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SECTOR_BYTES, SECTOR_LIMIT } from "../../../core/image/index.js";
import { createImage, type CreateOptions } from "../../../real/image/create.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { readImageHeaders } from "../../../real/image/headers.js";
import { reloadImage } from "../../../real/image/reload.js";
import { ImageIoError } from "../../../real/image/source.js";

/*
 * createImage's edges, in-process: the inputs it refuses (bad input, exit 2), its notes when it
 * reads raw, its progress reports (one per window read, never past the total), and where the
 * segmented layout cuts.
 */
const dir = mkdtempSync(join(tmpdir(), "testbed-create-edges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);
const base: CreateOptions = { level: 1, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "sequential", jobs: 1, imageId: new Uint8Array(16).fill(5) };

/** 4 MiB: pseudo-random data with all-zero stripes (free blocks) between. */
function striped(): Buffer {
  const b = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < b.length; i += 4) if ((i >>> 18) % 3 !== 1) b.writeUInt32LE((Math.imul(i + 7, 2654435761) ^ (i >>> 9)) >>> 0, i);
  return b;
}
const disk = striped();
writeFileSync(p("striped.raw"), disk);

async function refused(input: string): Promise<ImageIoError> {
  const e = await createImage(input, p("never.ndz"), base).catch((error: unknown) => error);
  expect(e).toBeInstanceOf(ImageIoError);
  return e as ImageIoError;
}

describe("createImage refuses", () => {
  it("an empty input, one not of whole sectors, and one over 2^32 sectors, as bad input", async () => {
    writeFileSync(p("empty.raw"), "");
    const empty = await refused(p("empty.raw"));
    expect(empty.message).toBe(`${p("empty.raw")}: empty, a disk of no sectors has no image`);
    expect(empty.badInput).toBe(true);
    writeFileSync(p("odd.raw"), Buffer.alloc(1000));
    const odd = await refused(p("odd.raw"));
    expect(odd.message).toBe(`${p("odd.raw")}: size 1000 is not a whole number of 512-byte sectors`);
    expect(odd.badInput).toBe(true);
    // A sparse file one sector past the limit: no block of it is stored.
    const fd = openSync(p("huge.raw"), "w");
    const hugeBytes = (SECTOR_LIMIT + 1) * SECTOR_BYTES;
    try {
      ftruncateSync(fd, hugeBytes);
    } finally {
      closeSync(fd);
    }
    const huge = await refused(p("huge.raw"));
    expect(huge.message).toBe(`${p("huge.raw")}: ${hugeBytes} bytes is over the format's 2 TiB (2^32 sectors)`);
    expect(huge.badInput).toBe(true);
    rmSync(p("huge.raw"));
  });
});

describe("createImage reports", () => {
  it("reading raw, zeros included, when free space is not skipped", async () => {
    const r = await createImage(p("striped.raw"), p("all.ndz"), { ...base, skipFree: false });
    expect(r.notes).toEqual(["raw: everything, zeros included"]);
    expect(r.allocatedBytes).toBe(disk.length);
  });

  it("its progress once per window read: one report when the window holds the whole disk", async () => {
    const calls: [number, number][] = [];
    await createImage(p("striped.raw"), p("one.ndz"), { ...base, windowBytes: 16 * 1024 * 1024, onProgress: (done, total) => calls.push([done, total]) });
    expect(calls).toEqual([[disk.length, disk.length]]);
  });

  it("its progress over segments at once as the sum of each segment's, rising to the total and never past it", async () => {
    const calls: number[] = [];
    await createImage(p("striped.raw"), p("seg.ndz"), { ...base, layout: "segmented", jobs: 2, segmentBytes: 1024 * 1024, windowBytes: 300 * 1024, onProgress: (done, total) => {
      expect(total).toBe(disk.length);
      calls.push(done);
    } });
    expect(calls.length).toBeGreaterThan(4);
    expect(calls.every((d, i) => d >= 0 && d <= disk.length && (i === 0 || d >= calls[i - 1]!))).toBe(true);
    expect(calls.at(-1)).toBe(disk.length);
  });
});

describe("createImage's read windows", () => {
  it("judge a block cut by a window's start as a whole: in use when its first part was, though the rest is zeros", async () => {
    const full = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < full.length; i += 4) full.writeUInt32LE((Math.imul(i + 11, 2654435761) | 1) >>> 0, i);
    writeFileSync(p("full.raw"), full);
    const o = { ...base, windowBytes: 300 * 1024 };
    // Where the windows start: after a chunk closes mid-range, the next window starts off a 4 KiB boundary.
    const starts: number[] = [];
    await createImage(p("full.raw"), p("full.ndz"), { ...o, onProgress: (done) => starts.push(done) });
    const cut = starts.find((s) => s % 4096 !== 0 && s < full.length);
    expect(cut).toBeDefined();
    const holed = Buffer.from(full);
    holed.fill(0, cut!, Math.ceil(cut! / 4096) * 4096);
    writeFileSync(p("holed.raw"), holed);
    await createImage(p("holed.raw"), p("holed.ndz"), o);
    const regions = (await readImageHeaders(p("holed.ndz"))).headers.flatMap((h) => h.regions);
    const covered = (sector: number): boolean => regions.some((r) => r.startSector <= sector && sector < r.startSector + r.sectorCount);
    for (let s = cut! / SECTOR_BYTES; s < Math.ceil(cut! / 4096) * 8; s++) expect(covered(s)).toBe(true);
    await reloadImage(p("holed.ndz"), null, p("holed.out"), { zeroFill: true });
    expect(readFileSync(p("holed.out")).equals(holed)).toBe(true);
  });
});

describe("createImage's segmented layout", () => {
  it("cuts the disk into segments of the size asked (rounded to the granularity), each chunk inside one", async () => {
    const r = await createImage(p("striped.raw"), p("cut.ndz"), { ...base, layout: "segmented", jobs: 2, segmentBytes: 1024 * 1024 + 1000 });
    const { headers } = await readImageHeaders(p("cut.ndz"));
    const segmentSectors = (1024 * 1024 + 0) / SECTOR_BYTES; // 1 MiB + 1000 rounded down to 4 KiB
    for (const h of headers) {
      const first = h.regions[0]!.startSector;
      const last = h.regions.at(-1)!.startSector + h.regions.at(-1)!.sectorCount - 1;
      expect(Math.floor(first / segmentSectors)).toBe(Math.floor(last / segmentSectors));
    }
    expect(headers.filter((h) => h.firstSector % segmentSectors === 0).map((h) => h.firstSector)).toEqual([0, 2048, 4096, 6144]);
    expect(r.chunks).toBe(headers.length);
    await reloadImage(p("cut.ndz"), null, p("cut.out"), { zeroFill: true });
    expect(readFileSync(p("cut.out")).equals(disk)).toBe(true);
  });
});
