import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES, SECTOR_BYTES } from "../../../core/image/index.js";
import { TargetIncompleteError } from "../../../real/output/index.js";
import {
  ImageCorruptError,
  createImage,
  loadCompatEngine,
  nodeEngine,
  readImageHeaders,
  unzipImage,
  writeDiskLikeFile,
  type CreateOptions,
} from "../../../real/image/index.js";
import { emulabFixture } from "../../fixtures/emulab.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-image-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rawDisk = gunzipSync(readFileSync(emulabFixture("disk-4mib.raw.gz")));
const rawPath = join(dir, "disk-4mib.raw");
writeFileSync(rawPath, rawDisk);

/** A fixed image id: images of the same disk are then the same bytes. */
const base: CreateOptions = { level: 4, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "segmented", jobs: 2, imageId: new Uint8Array(16).fill(5) };
let serial = 0;
const path = (name: string): string => join(dir, `${serial++}-${name}`);

async function roundTrip(input: string, o: CreateOptions, zeroFill = false): Promise<{ image: string; restored: string }> {
  const image = path("x.ndz");
  const restored = path("x.out");
  await createImage(input, image, o);
  await unzipImage(image, restored, { zeroFill });
  return { image, restored };
}

/** A disk whose 4 MiB has random, zero and text pieces at odd sector offsets. */
function patchwork(): Buffer {
  const b = Buffer.alloc(4 * 1024 * 1024);
  let x = 7;
  const rand = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let at = 0; at < b.length; ) {
    const len = Math.min(b.length - at, (1 + (rand() % 300)) * SECTOR_BYTES);
    const kind = rand() % 3;
    if (kind === 0) for (let i = 0; i < len; i++) b[at + i] = rand() & 0xff;
    if (kind === 1) b.fill("image block text ", at, at + len);
    at += len;
  }
  return b;
}

// pako is a dependency, so it loads after any install; were it missing, these tests show as skipped, never as passed.
const compat = await loadCompatEngine();
if (compat === null) console.warn("SKIPPED: byte-identical imagezip output needs the pako package, which is not installed");

describe("image create reproduces the original imagezip", () => {
  it.skipIf(compat === null).each([
    [4, "disk-4mib.ndz"],
    [9, "disk-4mib-z9.ndz"],
  ])("at level %i, with --compat -f, writes %s byte for byte", async (level, name) => {
    if (compat === null) return;
    const image = path("compat.ndz");
    await createImage(rawPath, image, { ...base, level, skipFree: false, engine: compat, layout: "sequential", jobs: 1, windowBytes: 300 * 1024, version: 3 });
    expect(readFileSync(image).equals(readFileSync(emulabFixture(name)))).toBe(true);
  });

  it("cuts chunks where imagezip does even with node:zlib (same regions and sector ranges)", async () => {
    const image = path("seq.ndz");
    await createImage(rawPath, image, { ...base, skipFree: false, layout: "sequential", jobs: 1 });
    const ours = await readImageHeaders(image);
    const theirs = await readImageHeaders(emulabFixture("disk-4mib.ndz"));
    const shape = (h: typeof ours): unknown => h.headers.map((c) => [c.firstSector, c.lastSector, c.regions]);
    expect(shape(ours)).toEqual(shape(theirs));
  });
});

describe("image create and unzip", () => {
  it("round-trips the fixture disk with free space skipped, at both granularities", async () => {
    for (const granularityBytes of [512, 4096]) {
      const { restored } = await roundTrip(rawPath, { ...base, granularityBytes });
      expect(readFileSync(restored).equals(rawDisk)).toBe(true);
    }
  });

  it("makes an image of an all-zero disk (one chunk, which carries the disk's size) that restores it", async () => {
    const zeros = path("zeros.raw");
    writeFileSync(zeros, Buffer.alloc(2 * 1024 * 1024));
    for (const layout of ["segmented", "sequential"] as const) {
      const { image, restored } = await roundTrip(zeros, { ...base, layout });
      // Before, no chunk was written: a 0-byte file that every reader refused as "not an image".
      expect(statSync(image).size).toBe(CHUNK_BYTES);
      expect(readFileSync(restored).equals(readFileSync(zeros))).toBe(true);
    }
  });

  it("restores a disk whose last megabytes are free to a file of the whole disk's size", async () => {
    // Data in the first 1.5 MiB only: the image's last chunk describes free space up to 4 MiB.
    const disk = Buffer.alloc(4 * 1024 * 1024);
    disk.set(patchwork().subarray(0, 1536 * 1024));
    const input = path("tail-free.raw");
    writeFileSync(input, disk);
    for (const layout of ["segmented", "sequential"] as const) {
      const { image, restored } = await roundTrip(input, { ...base, layout });
      const { headers } = await readImageHeaders(image);
      expect(Math.max(...headers.map((h) => h.regions.at(-1)!.startSector + h.regions.at(-1)!.sectorCount)) * SECTOR_BYTES).toBeLessThanOrEqual(1536 * 1024);
      expect(statSync(restored).size).toBe(disk.length);
      expect(readFileSync(restored).equals(disk)).toBe(true);
    }
  });

  it("skips the five zero stripes of the fixture disk: 2.75 MiB allocated of 4", async () => {
    const image = path("skip.ndz");
    const r = await createImage(rawPath, image, base);
    expect(r.allocatedBytes).toBe(11 * 256 * 1024);
  });

  it("round-trips a patchwork disk in every layout, with small windows and segments", async () => {
    const disk = patchwork();
    const input = path("patch.raw");
    writeFileSync(input, disk);
    const layouts: Partial<CreateOptions>[] = [
      { layout: "sequential", jobs: 1, windowBytes: 64 * 1024 },
      { layout: "segmented", jobs: 2, segmentBytes: 1024 * 1024, windowBytes: 200 * 1024 },
      { layout: "segmented", jobs: 3, segmentBytes: 512 * 1024, granularityBytes: 512 },
      { skipFree: false, layout: "segmented", jobs: 2 },
    ];
    for (const layout of layouts) {
      const { restored } = await roundTrip(input, { ...base, ...layout });
      expect(readFileSync(restored).equals(disk)).toBe(true);
    }
  });

  it("cuts the same chunks whatever the read window, in imagezip's sequential layout", async () => {
    const input = path("win.raw");
    writeFileSync(input, patchwork());
    const hashes = new Set<string>();
    for (const windowBytes of [260 * 1024, 333 * 1024 + 512, 1024 * 1024, 16 * 1024 * 1024]) {
      for (const granularityBytes of [512, 4096]) {
        const image = path(`win-${granularityBytes}.ndz`);
        await createImage(input, image, { ...base, granularityBytes, layout: "sequential", jobs: 1, windowBytes });
        hashes.add(`${granularityBytes} ${createHash("sha256").update(readFileSync(image)).digest("hex")}`);
      }
    }
    expect(hashes.size).toBe(2);
  });

  it("gives the same image for the same input whatever the number of jobs", async () => {
    const input = path("like.raw");
    await writeDiskLikeFile(input, 6 * 1024 * 1024, 3);
    const hashes = [];
    for (const jobs of [1, 2, 4]) {
      const image = path("jobs.ndz");
      await createImage(input, image, { ...base, jobs, segmentBytes: 2 * 1024 * 1024 });
      hashes.push(createHash("sha256").update(readFileSync(image)).digest("hex"));
    }
    expect(new Set(hashes).size).toBe(1);
  });

  it("zero-fills free space over a fixed-size target only when asked", async () => {
    const image = path("zf.ndz");
    await createImage(rawPath, image, base);
    const target = path("zf.out");
    writeFileSync(target, Buffer.alloc(rawDisk.length, 0xee));
    await unzipImage(image, target, { zeroFill: false, fixedSize: true });
    const kept = readFileSync(target);
    expect(kept.subarray(256 * 1024, 512 * 1024).every((b) => b === 0xee)).toBe(true);
    const r = await unzipImage(image, target, { zeroFill: true, fixedSize: true });
    expect(readFileSync(target).equals(rawDisk)).toBe(true);
    expect(r.zeroBytes).toBe(5 * 256 * 1024);
  });

  it("refuses an input that is not whole sectors", async () => {
    const input = path("odd.raw");
    writeFileSync(input, Buffer.alloc(1000, 1));
    await expect(createImage(input, path("odd.ndz"), base)).rejects.toThrow(/size 1000 is not a whole number of 512-byte sectors/);
  });

  it("makes a deterministic disk-like file from a seed", async () => {
    const a = path("a.raw");
    const b = path("b.raw");
    await writeDiskLikeFile(a, 3 * 1024 * 1024 + 512, 9);
    await writeDiskLikeFile(b, 3 * 1024 * 1024 + 512, 9);
    expect(statSync(a).size).toBe(3 * 1024 * 1024 + 512);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const bytes = readFileSync(a);
    expect(bytes.includes(Buffer.alloc(4096))).toBe(true);
    expect(bytes.includes(Buffer.from(" "))).toBe(true);
  });
});

describe("image unzip on damaged images", () => {
  /** An image of 4 MiB of random data: four chunks or more (version 3: no checksums to find damage before writing). */
  async function randomImage(version: 3 | 4 = 3): Promise<{ image: string; disk: Buffer }> {
    const disk = Buffer.alloc(4 * 1024 * 1024);
    let x = 99;
    for (let i = 0; i < disk.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      disk.writeUInt32LE(x >>> 0, i);
    }
    const input = path("rand.raw");
    writeFileSync(input, disk);
    const image = path("rand.ndz");
    await createImage(input, image, { ...base, layout: "sequential", jobs: 1, version });
    return { image, disk };
  }

  it("refuses a version-4 image with a damaged chunk before writing a byte in place, naming the chunk's checksum", async () => {
    const { image, disk } = await randomImage(4);
    const bytes = readFileSync(image);
    bytes[2 * CHUNK_BYTES + 4096 + 5000]! ^= 0x40;
    writeFileSync(image, bytes);
    const target = path("damaged4.out");
    writeFileSync(target, Buffer.alloc(disk.length, 0x33));
    const error = await unzipImage(image, target, { zeroFill: false, fixedSize: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageCorruptError);
    expect((error as Error).message).toMatch(/: chunk 2 at image byte 2097224: SHA-1 checksum mismatch/);
    expect(readFileSync(target).equals(Buffer.alloc(disk.length, 0x33))).toBe(true);
  });

  it("stops at a corrupt chunk in place, naming it and the target as incomplete, with every chunk before it written and nothing from it on", async () => {
    const { image, disk } = await randomImage();
    const { headers } = await readImageHeaders(image);
    expect(headers.length).toBeGreaterThanOrEqual(4);
    const bytes = readFileSync(image);
    bytes[2 * CHUNK_BYTES + 4096 + 5000]! ^= 0x40;
    writeFileSync(image, bytes);
    const target = path("damaged.out");
    writeFileSync(target, Buffer.alloc(disk.length));
    const error = await unzipImage(image, target, { zeroFill: false, fixedSize: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetIncompleteError);
    expect((error as Error).cause).toBeInstanceOf(ImageCorruptError);
    expect((error as Error).message).toMatch(/: chunk 2 at image byte \d+: zlib: .*; .*damaged\.out is incomplete/);
    const written = readFileSync(target);
    const verifiedEnd = headers[1]!.lastSector * SECTOR_BYTES;
    expect(written.subarray(0, verifiedEnd).equals(disk.subarray(0, verifiedEnd))).toBe(true);
    expect(written.subarray(verifiedEnd).every((b) => b === 0)).toBe(true);
  });

  it("leaves a file target as it was when a chunk is corrupt: the old file, or no file at all", async () => {
    const { image } = await randomImage();
    const bytes = readFileSync(image);
    bytes[2 * CHUNK_BYTES + 4096 + 5000]! ^= 0x40;
    writeFileSync(image, bytes);
    const fresh = path("fresh.out");
    await expect(unzipImage(image, fresh, { zeroFill: false })).rejects.toBeInstanceOf(ImageCorruptError);
    expect(existsSync(fresh)).toBe(false);
    const old = path("old.out");
    writeFileSync(old, "the user's old file\n");
    await expect(unzipImage(image, old, { zeroFill: false })).rejects.toBeInstanceOf(ImageCorruptError);
    expect(readFileSync(old, "utf8")).toBe("the user's old file\n");
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses a truncated image before writing anything, naming the short chunk", async () => {
    const { image } = await randomImage();
    const bytes = readFileSync(image);
    writeFileSync(image, bytes.subarray(0, bytes.length - 1000));
    const target = path("trunc.out");
    await expect(unzipImage(image, target, { zeroFill: false })).rejects.toThrow(/chunk (\d+) at image byte \d+: cut short: 1047576 of its 1048576 bytes, the 1000 from image byte \d+ on are missing$/);
    expect(existsSync(target)).toBe(false);
  });

  it("refuses an image with a bad header before writing anything", async () => {
    const { image } = await randomImage();
    const bytes = readFileSync(image);
    bytes.writeUInt32LE(0xdeadbeef, 3 * CHUNK_BYTES);
    writeFileSync(image, bytes);
    const target = path("badhdr.out");
    await expect(unzipImage(image, target, { zeroFill: false })).rejects.toThrow(/chunk 3 at image byte 3145728: bad magic 0xdeadbeef/);
    expect(existsSync(target)).toBe(false);
  });
});
