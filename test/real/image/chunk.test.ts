import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CHUNK_BYTES } from "../../../core/image/index.js";
import { decodeChunk, imageChunkCount, type ChunkResult } from "../../../real/image/index.js";
import { emulabFixture } from "../../fixtures/emulab.js";

const raw = gunzipSync(readFileSync(emulabFixture("disk-4mib.raw.gz")));
const ndz = new Uint8Array(readFileSync(emulabFixture("disk-4mib.ndz")));
const ndz9 = new Uint8Array(readFileSync(emulabFixture("disk-4mib-z9.ndz")));
const NAMED_ERROR = /^chunk \d+ at image byte \d+: \S/;

function chunkOf(image: Uint8Array, i: number): Uint8Array {
  return image.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
}

/** Decodes every chunk onto a zeroed disk of the raw disk's size. */
function restore(image: Uint8Array): Buffer {
  const disk = Buffer.alloc(raw.length);
  for (let i = 0; i < imageChunkCount(image.length); i++) {
    const r = decodeChunk(chunkOf(image, i), i);
    if (!r.ok) throw new Error(r.error);
    for (const w of r.value.writes) disk.set(w.data, w.offsetBytes);
  }
  return disk;
}

/** When a damaged chunk still decodes, what it writes must be the original disk's bytes. */
function expectNamedOrFaithful(r: ChunkResult): void {
  if (!r.ok) {
    expect(r.error).toMatch(NAMED_ERROR);
    return;
  }
  for (const w of r.value.writes) expect(Buffer.from(w.data).equals(raw.subarray(w.offsetBytes, w.offsetBytes + w.data.length))).toBe(true);
}

describe("decodeChunk on the original imagezip's images", () => {
  it("restores the raw disk byte for byte from disk-4mib.ndz (level 4)", () => {
    expect(restore(ndz).equals(raw)).toBe(true);
  });

  it("restores the raw disk byte for byte from disk-4mib-z9.ndz (level 9)", () => {
    expect(restore(ndz9).equals(raw)).toBe(true);
  });

  it("reports each chunk's sector range and one write per region", () => {
    const r = decodeChunk(chunkOf(ndz, 1), 1);
    expect(r.ok && { ...r.value, writes: r.value.writes.map((w) => [w.offsetBytes, w.data.length]) }).toEqual({
      chunkIndex: 1, firstSector: 5101, lastSector: 8192, writes: [[5101 * 512, 3091 * 512]],
    });
  });

  it("counts chunks from an image's size", () => {
    expect(imageChunkCount(ndz.length)).toBe(2);
  });
});

describe("decodeChunk on damaged chunks", () => {
  const damaged = (at: number, xor: number): Uint8Array => {
    const c = new Uint8Array(chunkOf(ndz, 0));
    c[at]! ^= xor;
    return c;
  };

  it("names a flipped byte in the zlib data by chunk and image byte", () => {
    const r = decodeChunk(damaged(4096 + 100, 0xff), 0);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/^chunk 0 at image byte \d+: zlib: /);
  });

  it("names a corrupt checksum at the end of the stream", () => {
    const r = decodeChunk(damaged(4096 + 1043068 - 1, 1), 0);
    expect(!r.ok && r.error).toBe("chunk 0 at image byte 1047163: zlib: incorrect data check");
  });

  it("names a chunk cut short by where it starts, how much of it there is, and where the rest is missing from", () => {
    const r = decodeChunk(chunkOf(ndz, 1).subarray(0, 700_000), 1);
    expect(!r.ok && r.error).toBe("chunk 1 at image byte 1048576: cut short: 700000 of its 1048576 bytes, the 348576 from image byte 1748576 on are missing");
    const header = decodeChunk(chunkOf(ndz, 1).subarray(0, 424), 1);
    expect(!header.ok && header.error).toBe(
      "chunk 1 at image byte 1048576: cut short: 424 of its 1048576 bytes, the 1048152 from image byte 1049000 on are missing (its 4096-byte header area is incomplete)",
    );
  });

  it("names a chunk whose stream ends before the size in its header", () => {
    const c = new Uint8Array(chunkOf(ndz, 0));
    new DataView(c.buffer).setUint32(4, 1043075, true);
    expect(decodeChunk(c, 0)).toEqual({ ok: false, error: "chunk 0 at image byte 1047164: zlib stream ends after 1043068 bytes, but the header says 1043075" });
  });

  it("names a chunk whose regions need more data than the stream holds", () => {
    const c = new Uint8Array(chunkOf(ndz, 0));
    const v = new DataView(c.buffer);
    v.setUint32(40, 5000, true);
    const r = decodeChunk(c, 0);
    expect(!r.ok && r.error).toMatch(/^chunk 0 at image byte 4096: data inflates to more than the 2560000 bytes its regions need/);
  });

  it("refuses a chunk sent under another number", () => {
    expect(decodeChunk(chunkOf(ndz, 1), 0)).toEqual({ ok: false, error: "chunk 0 at image byte 8: header says chunk 1" });
  });

  it("never throws on random bytes: always a named error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 8192 }), fc.option(fc.nat(100), { nil: undefined }), (bytes, n) => {
        const r = decodeChunk(bytes, n);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toMatch(NAMED_ERROR);
      }),
      { numRuns: 1000 },
    );
  });

  it("never throws on full-size chunks with a valid header and random data: always a named error", () => {
    const header = chunkOf(ndz, 1).subarray(0, 4096);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 4096 }), fc.nat(1000), (noise, seed) => {
        const c = new Uint8Array(CHUNK_BYTES);
        c.set(header);
        for (let at = 4096; at < CHUNK_BYTES; at += noise.length) c.set(noise.subarray(0, Math.min(noise.length, CHUNK_BYTES - at)), at);
        c[4096 + (seed % 64)] = seed & 0xff;
        const r = decodeChunk(c, 1);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toMatch(NAMED_ERROR);
      }),
      { numRuns: 40 },
    );
  });

  it("never throws on mutated real chunks: a named error, or exactly the original disk's bytes", () => {
    const mutation = fc.record({
      chunk: fc.constantFrom(0, 1),
      edits: fc.array(fc.tuple(fc.oneof(fc.nat(4095), fc.integer({ min: 4096, max: 4096 + 1043068 + 16 }), fc.nat(CHUNK_BYTES - 1)), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
      cut: fc.option(fc.nat(CHUNK_BYTES), { nil: undefined, freq: 5 }),
    });
    fc.assert(
      fc.property(mutation, ({ chunk, edits, cut }) => {
        const c = new Uint8Array(chunkOf(ndz, chunk));
        for (const [at, xor] of edits) c[at]! ^= xor;
        expectNamedOrFaithful(decodeChunk(cut === undefined ? c : c.subarray(0, cut), chunk));
      }),
      { numRuns: 60 },
    );
  });

  it("never throws on mutated header fields: a named error, or exactly the original disk's bytes", () => {
    const field = fc.record({ at: fc.constantFrom(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44), value: fc.oneof(fc.nat(10_000), fc.constant(0xffff_ffff), fc.integer({ min: 0, max: 0xffff_ffff })) });
    fc.assert(
      fc.property(fc.constantFrom(0, 1), field, (chunk, { at, value }) => {
        const c = new Uint8Array(chunkOf(ndz, chunk));
        new DataView(c.buffer).setUint32(at, value, true);
        expectNamedOrFaithful(decodeChunk(c, chunk));
      }),
      { numRuns: 60 },
    );
  });
});
