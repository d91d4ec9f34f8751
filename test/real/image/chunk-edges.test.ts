import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, deflateSync, inflateSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES, CHUNK_DATA_BYTES_MAX, HEADER_AREA_BYTES, encodeChunkHeader, headerAreaUsed, type Region } from "../../../core/image/index.js";
import { decodeChunk } from "../../../real/image/chunk.js";
import { forEachChunk, type ReadChunk } from "../../../real/image/chunks.js";
import { ChunkCompressor, READ_BYTES_MAX, type ClosedChunk } from "../../../real/image/compressor.js";
import { createImage } from "../../../real/image/create.js";
import type { DeflateEngine } from "../../../real/image/deflater.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { nodeHash } from "../../../real/image/hash.js";
import { ImageCorruptError, readImageHeaders } from "../../../real/image/headers.js";
import { ChunkWriter } from "../../../real/image/writer.js";

/*
 * The chunk readers and the chunk cutter, in-process, on chunks built here: a decoded chunk's
 * number and writes, each way a stream can disagree with its header (and the exact byte named),
 * how many chunks forEachChunk reads ahead, and where ChunkCompressor closes a chunk.
 */
const dir = mkdtempSync(join(tmpdir(), "testbed-chunk-edges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);

/** Bytes that compress (text with a counter), so a flipped byte lands in Huffman codes. */
function text(bytes: number, seed = 1): Uint8Array {
  const b = Buffer.alloc(bytes);
  for (let at = 0, n = seed; at < bytes; n++) at += b.write(`line ${n} of the disk, block ${n * 7} `, at);
  return b;
}

/** One chunk of version 3: `regions`' header, then `stream` (by default the deflated `data`). */
function chunk(regions: Region[], data: Uint8Array, o: { index?: number; stream?: Uint8Array; compressedBytes?: number } = {}): Uint8Array {
  const stream = o.stream ?? deflateSync(data);
  const last = regions[regions.length - 1]!;
  const c = new Uint8Array(CHUNK_BYTES);
  c.set(encodeChunkHeader({ compressedBytes: o.compressedBytes ?? stream.length, chunkIndex: o.index ?? 0, firstSector: regions[0]!.startSector, lastSector: last.startSector + last.sectorCount, regions }));
  c.set(stream, HEADER_AREA_BYTES);
  return c;
}

describe("decodeChunk on chunks built here", () => {
  it("takes the chunk's number from its header when none is expected, and writes each region's own data", () => {
    const data = text(3 * 512);
    const r = decodeChunk(chunk([{ startSector: 10, sectorCount: 1 }, { startSector: 20, sectorCount: 2 }], data, { index: 3 }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.chunkIndex).toBe(3);
    expect(r.value.writes.map((w) => [w.offsetBytes, Buffer.from(w.data).equals(Buffer.from(data.subarray(w === r.value.writes[0] ? 0 : 512, w === r.value.writes[0] ? 512 : 1536)))])).toEqual([
      [10 * 512, true],
      [20 * 512, true],
    ]);
  });

  it("refuses a chunk one byte too long or one byte short, naming which", () => {
    const c = chunk([{ startSector: 0, sectorCount: 1 }], text(512));
    const long = new Uint8Array(CHUNK_BYTES + 1);
    long.set(c);
    expect(decodeChunk(long, 0)).toEqual({ ok: false, error: "chunk 0 at image byte 1048576: too long: 1048577 of 1048576 bytes" });
    expect(decodeChunk(c.subarray(0, CHUNK_BYTES - 1), 0)).toEqual({ ok: false, error: "chunk 0 at image byte 0: cut short: 1048575 of its 1048576 bytes, the 1 from image byte 1048575 on are missing" });
  });

  it("refuses a stream that inflates to less than its regions need, naming where it ended", () => {
    const stream = deflateSync(text(512));
    const r = decodeChunk(chunk([{ startSector: 0, sectorCount: 2 }], new Uint8Array(0), { stream }), 0);
    expect(r).toEqual({ ok: false, error: `chunk 0 at image byte ${HEADER_AREA_BYTES + stream.length}: data inflates to 512 bytes, but the regions need 1024` });
  });

  it("refuses a stream cut short, naming the header's end of it", () => {
    const stream = deflateSync(text(4096));
    const r = decodeChunk(chunk([{ startSector: 0, sectorCount: 8 }], new Uint8Array(0), { stream: stream.subarray(0, stream.length - 5) }), 0);
    expect(r).toEqual({ ok: false, error: `chunk 0 at image byte ${HEADER_AREA_BYTES + stream.length - 5}: zlib stream is cut short (unexpected end of data)` });
  });

  it("names the first byte zlib objects to in a damaged stream (the shortest failing prefix, found by a plain scan here)", () => {
    const data = text(64 * 512, 7);
    const good = deflateSync(data);
    const failsAt = (s: Uint8Array): number => {
      for (let n = 1; n <= s.length; n++) {
        try {
          inflateSync(s.subarray(0, n), { finishFlush: constants.Z_SYNC_FLUSH });
        } catch {
          return n;
        }
      }
      return -1;
    };
    let tried = 0;
    for (let at = 40; at < good.length - 8 && tried < 3; at += 97) {
      const bad = new Uint8Array(good);
      bad[at]! ^= 0x5a;
      const n = failsAt(bad);
      if (n < 0 || n >= bad.length) continue; // only the checksum noticed: another case
      const r = decodeChunk(chunk([{ startSector: 0, sectorCount: 64 }], data, { stream: bad }), 0);
      expect(!r.ok && r.error).toMatch(new RegExp(`^chunk 0 at image byte ${HEADER_AREA_BYTES + n - 1}: zlib: `));
      tried++;
    }
    expect(tried).toBe(3);
  });
});

/** A version-3 image file of the given chunks. */
function imageFile(name: string, chunks: Uint8Array[]): string {
  const file = p(name);
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}

async function readAll(file: string, o: { inFlight?: number; checkOnly?: boolean } = {}, log?: string[]): Promise<ReadChunk[]> {
  const { headers } = await readImageHeaders(file);
  const fh = await open(file, "r");
  try {
    const got: ReadChunk[] = [];
    const logged = new Proxy(fh, {
      get(target, key) {
        if (key === "read") return (buf: Uint8Array, off: number, len: number, pos: number) => (log?.push(`read ${pos / CHUNK_BYTES}`), target.read(buf, off, len, pos));
        const v = Reflect.get(target, key) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as FileHandle;
    await forEachChunk(logged, file, headers, { hash: nodeHash, ...o }, (c) => {
      log?.push(`each ${c.index}`);
      got.push({ ...c, data: new Uint8Array(c.data) });
    });
    return got;
  } finally {
    await fh.close();
  }
}

describe("forEachChunk", () => {
  const chunks = [0, 1, 2, 3].map((i) => chunk([{ startSector: i * 100, sectorCount: 4 }], text(4 * 512, i), { index: i }));
  const four = imageFile("four.ndz", chunks);

  it("reads ahead as many chunks as asked (3 by default), each once, and hands them over in order", async () => {
    const log: string[] = [];
    await readAll(four, {}, log);
    expect(log).toEqual(["read 0", "read 1", "read 2", "read 3", "each 0", "each 1", "each 2", "each 3"]);
    const two: string[] = [];
    const got = await readAll(four, { inFlight: 2 }, two);
    expect(two).toEqual(["read 0", "read 1", "read 2", "each 0", "read 3", "each 1", "each 2", "each 3"]);
    expect(got.map((c) => Buffer.from(c.data).equals(Buffer.from(text(4 * 512, c.index))))).toEqual([true, true, true, true]);
    const one: string[] = [];
    await readAll(four, { inFlight: 0 }, one);
    expect(one).toEqual(["read 0", "read 1", "each 0", "read 2", "each 1", "read 3", "each 2", "each 3"]);
  });

  it("only checks, without inflating, when asked", async () => {
    const got = await readAll(four, { checkOnly: true });
    expect(got.map((c) => [c.index, c.data.length, c.check])).toEqual([[0, 0, "none"], [1, 0, "none"], [2, 0, "none"], [3, 0, "none"]]);
  });

  it("refuses a stream shorter than its regions or longer than zlib's, naming the chunk", async () => {
    const stream = deflateSync(text(512));
    const short = imageFile("short.ndz", [chunks[0]!, chunk([{ startSector: 100, sectorCount: 2 }], new Uint8Array(0), { index: 1, stream })]);
    const e1 = await readAll(short).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ImageCorruptError);
    expect((e1 as Error).message).toBe(`${short}: chunk 1 at image byte ${CHUNK_BYTES + HEADER_AREA_BYTES + stream.length}: data inflates to 512 bytes, but the regions need 1024`);
    const long = imageFile("long.ndz", [chunk([{ startSector: 0, sectorCount: 1 }], new Uint8Array(0), { stream, compressedBytes: stream.length + 10 })]);
    const e2 = await readAll(long).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ImageCorruptError);
    expect((e2 as Error).message).toBe(`${long}: chunk 0 at image byte ${HEADER_AREA_BYTES + stream.length}: zlib stream ends after ${stream.length} bytes, but the header says ${stream.length + 10}`);
  });
});

/** A deflater that passes bytes through one for one (plus `endBytes` at the end), so a chunk's room is exact. */
function passThrough(endBytes = 0, grow = 0): DeflateEngine {
  return {
    name: "node",
    create: () => ({
      write: async (data) => [new Uint8Array(data.length + grow)],
      end: async () => [new Uint8Array(endBytes)],
    }),
  };
}

function collector(): { chunks: ClosedChunk[]; emit: (c: ClosedChunk) => Promise<void> } {
  const chunks: ClosedChunk[] = [];
  return { chunks, emit: async (c) => void chunks.push(c) };
}

describe("ChunkCompressor", () => {
  it.each([3, 4])("closes a version-%i chunk when its region table is full, extending it to the next range's start", async (version) => {
    const { chunks, emit } = collector();
    const c = new ChunkCompressor(passThrough(), 4, 0, emit, version);
    const ranges = 1500;
    for (let k = 0; k < ranges; k++) expect(await c.range(3 * k, new Uint8Array(512), false)).toBe(512);
    await c.finish(3 * ranges);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flatMap((ch) => ch.regions)).toEqual(Array.from({ length: ranges }, (_, k) => ({ startSector: 3 * k, sectorCount: 1 })));
    for (const [i, ch] of chunks.entries()) {
      if (i < chunks.length - 1) {
        expect(headerAreaUsed(version, ch.regions.length, 0)).toBeLessThanOrEqual(HEADER_AREA_BYTES);
        expect(headerAreaUsed(version, ch.regions.length + 1, 0)).toBeGreaterThan(HEADER_AREA_BYTES);
        expect(ch.lastSector).toBe(chunks[i + 1]!.regions[0]!.startSector);
        expect(chunks[i + 1]!.firstSector).toBe(ch.lastSector);
      }
    }
    expect(chunks[0]!.firstSector).toBe(0);
    expect(chunks.at(-1)!.lastSector).toBe(3 * ranges);
  });

  it("refuses output that overflows the chunk, saying by how much", async () => {
    const c = new ChunkCompressor(passThrough(0, CHUNK_BYTES), 4, 0, collector().emit);
    await expect(c.range(0, new Uint8Array(512), false)).rejects.toThrow("chunk overflow: 4608 bytes past the chunk's end");
  });

  it("stops short on an open range only while a full read may not fit, or the chunk's end caps it", async () => {
    const fresh = (): ChunkCompressor => new ChunkCompressor(passThrough(), 4, 0, collector().emit);
    // A full read's worth is read whatever follows it; less is left for the rest of the range.
    expect(await fresh().range(0, new Uint8Array(READ_BYTES_MAX), true)).toBe(READ_BYTES_MAX);
    expect(await fresh().range(0, new Uint8Array(READ_BYTES_MAX - 512), true)).toBe(0);
    // 17 KiB left in the chunk: 16 KiB may be read (1 KiB margin). Exactly that much open is held back; more is cut there.
    const nearEnd = async (): Promise<ChunkCompressor> => {
      const c = fresh();
      expect(await c.range(0, new Uint8Array(CHUNK_DATA_BYTES_MAX - 17 * 1024), false)).toBe(CHUNK_DATA_BYTES_MAX - 17 * 1024);
      return c;
    };
    const start = (CHUNK_DATA_BYTES_MAX - 17 * 1024) / 512;
    expect(await (await nearEnd()).range(start + 8, new Uint8Array(16 * 1024), true)).toBe(0);
    expect(await (await nearEnd()).range(start + 8, new Uint8Array(32 * 1024), true)).toBe(16 * 1024);
  });
});

/** Wraps an engine: counts deflaters in use at once, and holds every write until `atOnce` exist. */
function countingEngine(atOnce: number): { engine: DeflateEngine; most: () => number } {
  let created = 0;
  let active = 0;
  let most = 0;
  const waiting: (() => void)[] = [];
  const engine: DeflateEngine = {
    name: "node",
    create(level) {
      const d = nodeEngine.create(level);
      created++;
      active++;
      most = Math.max(most, active);
      if (created >= atOnce) for (const wake of waiting.splice(0)) wake();
      const gate = (): Promise<void> => (created >= atOnce ? Promise.resolve() : new Promise((wake) => waiting.push(wake)));
      return {
        write: async (data) => (await gate(), d.write(data)),
        end: async () => {
          const out = await d.end();
          active--;
          return out;
        },
      };
    },
  };
  return { engine, most: () => most };
}

describe("createImage's segmented layout", () => {
  it("compresses `jobs` segments at once, never more", async () => {
    const disk = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < disk.length; i += 4) disk.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    writeFileSync(p("jobs.raw"), disk);
    const { engine, most } = countingEngine(2);
    await createImage(p("jobs.raw"), p("jobs.ndz"), { level: 1, granularityBytes: 4096, skipFree: true, engine, layout: "segmented", jobs: 2, segmentBytes: 1024 * 1024 });
    expect(most()).toBe(2);
  }, 60_000);
});

describe("ChunkWriter", () => {
  it("refuses an image id not of 16 bytes, and a chunk whose parts do not add up to its header's size", async () => {
    const fh = await open(p("writer.ndz"), "w");
    try {
      expect(() => new ChunkWriter(fh, { version: 4, imageId: new Uint8Array(15), hash: nodeHash })).toThrow("image id of 15 bytes");
      const w = new ChunkWriter(fh, { version: 3 });
      const c: ClosedChunk = { regions: [{ startSector: 0, sectorCount: 1 }], firstSector: 0, lastSector: 1, compressedBytes: 10, parts: [new Uint8Array(4), new Uint8Array(3)] };
      await expect(w.write(c)).rejects.toThrow("chunk 0: parts add up to 7, header says 10");
      expect(w.chunks).toBe(0);
    } finally {
      await fh.close();
    }
  });
});
