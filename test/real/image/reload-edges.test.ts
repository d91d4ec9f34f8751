import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, deflateSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES, HEADER_AREA_BYTES, V4_FIELDS, encodeChunkHeader, encodeDeltaMarker, parseSigningKey, type Reloc } from "../../../core/image/index.js";
import { OutputError, TargetIncompleteError } from "../../../real/output/index.js";
import { createImage } from "../../../real/image/create.js";
import { loadDeltaBase, makeDelta } from "../../../real/image/delta.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { nodeHash } from "../../../real/image/hash.js";
import { ImageCorruptError } from "../../../real/image/headers.js";
import { WrongBaseError, reloadImage } from "../../../real/image/reload.js";
import { ImageIoError } from "../../../real/image/source.js";
import { ChunkWriter } from "../../../real/image/writer.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/*
 * reloadImage's edges, in-process: what it refuses before writing (a target too small, the image
 * itself as target, a base that is a full image saved as a delta, a signed chunk that does not
 * verify), what it lays with the base in place, relocations, and the key's use on every pass.
 */
const dir = mkdtempSync(join(tmpdir(), "testbed-reload-edges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);
const raw = gunzipSync(readFileSync(emulabFixture("disk-4mib.raw.gz")));
const image = emulabFixture("disk-4mib.ndz");

const key = (() => {
  const k = parseSigningKey(readFileSync(emulabFixture("disk-4mib-v4.ndz.skey"), "utf8"));
  if (!k.ok) throw new Error(k.error);
  return k.value;
})();

describe("reloadImage of a base alone", () => {
  it("lays it as the base layer", async () => {
    const r = await reloadImage(image, null, p("base.raw"), { zeroFill: true });
    expect(r).toMatchObject({ layers: "base", chunks: 2, diskBytes: raw.length });
    expect(readFileSync(p("base.raw")).equals(raw)).toBe(true);
  });

  it("with the base in place already: lays nothing, the target untouched", async () => {
    writeFileSync(p("inplace.raw"), "the disk as it is");
    const r = await reloadImage(image, null, p("inplace.raw"), { zeroFill: true, baseInPlace: true });
    expect(r).toMatchObject({ layers: "none", chunks: 0, dataBytes: 0 });
    expect(readFileSync(p("inplace.raw"), "utf8")).toBe("the disk as it is");
  });

  it("refuses the image itself as its target, and leaves it as it was", async () => {
    const copy = p("self.ndz");
    writeFileSync(copy, readFileSync(image));
    await expect(reloadImage(copy, null, copy, { zeroFill: false })).rejects.toBeInstanceOf(OutputError);
    expect(readFileSync(copy).equals(readFileSync(image))).toBe(true);
  });

  it("refuses a fixed-size file too small for the disk before writing, saying both sizes (bad input)", async () => {
    writeFileSync(p("small.raw"), Buffer.alloc(1024 * 1024, 0x55));
    const e = await reloadImage(image, null, p("small.raw"), { zeroFill: false, fixedSize: true }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(ImageIoError);
    expect((e as ImageIoError).message).toBe(`${p("small.raw")}: file holds 1048576 bytes, the image needs ${raw.length}; nothing written`);
    expect((e as ImageIoError).badInput).toBe(true);
    expect(readFileSync(p("small.raw")).equals(Buffer.alloc(1024 * 1024, 0x55))).toBe(true);
  });
});

describe("reloadImage of a signed image with the key", () => {
  const v4 = emulabFixture("disk-4mib-v4.ndz");

  it("verifies every chunk's signature while writing", async () => {
    const r = await reloadImage(v4, null, p("signed.raw"), { zeroFill: true, key });
    expect(r.checks).toEqual({ none: 0, sha1: 0, "signed-not-verified": 0, signature: 2 });
  });

  it("refuses a second chunk whose signature does not verify before writing the first, in place", async () => {
    const bad = Buffer.from(readFileSync(v4));
    bad[CHUNK_BYTES + V4_FIELDS.checksum + 10]! ^= 0x01;
    writeFileSync(p("badsig.ndz"), bad);
    writeFileSync(p("badsig.raw"), Buffer.alloc(raw.length, 0x66));
    const e = await reloadImage(p("badsig.ndz"), null, p("badsig.raw"), { zeroFill: false, fixedSize: true, key }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(ImageCorruptError);
    expect(e).not.toBeInstanceOf(TargetIncompleteError);
    expect((e as Error).message).toMatch(/badsig\.ndz: chunk 1 at image byte \d+: /);
    expect(readFileSync(p("badsig.raw")).equals(Buffer.alloc(raw.length, 0x66))).toBe(true);
  });
});

/** A one-chunk version-4 image of `data` at sector 0, under the IV `iv` (a delta marker). */
async function v4Image(path: string, data: Uint8Array, imageId: Uint8Array, iv?: Uint8Array): Promise<void> {
  const stream = deflateSync(data);
  const fh = await open(path, "w");
  try {
    const writer = new ChunkWriter(fh, { version: 4, imageId, hash: nodeHash, ...(iv === undefined ? {} : { iv }) });
    await writer.write({ regions: [{ startSector: 0, sectorCount: data.length / 512 }], firstSector: 0, lastSector: 64, compressedBytes: stream.length, parts: [stream] });
    await writer.finish();
  } finally {
    await fh.close();
  }
}

describe("reloadImage with a delta", () => {
  it("refuses a base that is a full image saved as a delta", async () => {
    await v4Image(p("full.ndz"), new Uint8Array(1024).fill(3), new Uint8Array(16).fill(1), encodeDeltaMarker({ kind: "full", deltaId: new Uint8Array(16).fill(2) }));
    const e = await reloadImage(p("full.ndz"), p("full.ndz"), p("never.raw"), { zeroFill: false }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(WrongBaseError);
    expect((e as Error).message).toBe(`${p("full.ndz")}: chunk 0 at image byte ${V4_FIELDS.iv}: is itself a full image saved as a delta, not a base image`);
    expect(existsSync(p("never.raw"))).toBe(false);
  });

  it("lays the delta alone over a base in place, growing a disk file that ends before the disk does", async () => {
    // A 2 MiB disk: data in its first MiB, then an edit there.
    const disk = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < 1024 * 1024; i += 4) disk.writeUInt32LE(Math.imul(i + 1, 2654435761) >>> 0, i);
    writeFileSync(p("grow.raw"), disk);
    await createImage(p("grow.raw"), p("grow.ndz"), { level: 1, granularityBytes: 4096, skipFree: true, fsAware: false, engine: nodeEngine, layout: "sequential", jobs: 1 });
    const edited = Buffer.from(disk);
    edited.fill(0x42, 8192, 16384);
    writeFileSync(p("grow-edited.raw"), edited);
    const made = await makeDelta(await loadDeltaBase(p("grow.ndz")), p("grow.ndz"), p("grow-edited.raw"), p("grow.delta"), { level: 1, engine: nodeEngine, thresholdPercent: 80, granularityBytes: 4096, fsAware: false });
    expect(made.kind).toBe("delta");
    writeFileSync(p("grow.target"), disk.subarray(0, 1024 * 1024));
    const r = await reloadImage(p("grow.ndz"), p("grow.delta"), p("grow.target"), { zeroFill: false, baseInPlace: true });
    expect(r.layers).toBe("delta");
    expect(statSync(p("grow.target")).size).toBe(disk.length);
    expect(readFileSync(p("grow.target")).equals(edited)).toBe(true);
  });
});

/** A one-chunk version-3 image of 8 sectors at sector 4 with these relocations. */
function relocImage(name: string, relocs: Reloc[]): string {
  const data = new Uint8Array(8 * 512).fill(9);
  const stream = deflateSync(data);
  const c = new Uint8Array(CHUNK_BYTES);
  c.set(encodeChunkHeader({ compressedBytes: stream.length, chunkIndex: 0, firstSector: 0, lastSector: 16, regions: [{ startSector: 4, sectorCount: 8 }], relocs }));
  c.set(stream, HEADER_AREA_BYTES);
  writeFileSync(p(name), c);
  return p(name);
}

describe("reloadImage with relocations", () => {
  it("counts the relocations it applies, found by the region's disk bytes", async () => {
    // Type 0 (none): applied as it is, so the data is unchanged.
    const r = await reloadImage(relocImage("reloc.ndz", [{ type: 0, sector: 6, sectorOffset: 10, bytes: 100 }]), null, p("reloc.raw"), { zeroFill: true });
    expect(r.relocations).toBe(1);
    const out = readFileSync(p("reloc.raw"));
    expect(out.length).toBe(16 * 512);
    expect(out.subarray(4 * 512, 12 * 512).every((b) => b === 9) && out.subarray(0, 4 * 512).every((b) => b === 0)).toBe(true);
  });

  it("refuses a relocation cut by the region's end, naming the chunk", async () => {
    const e = await reloadImage(relocImage("cut.ndz", [{ type: 0, sector: 11, sectorOffset: 500, bytes: 100 }]), null, p("cut.raw"), { zeroFill: false }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(ImageCorruptError);
    expect((e as Error).message).toBe(`${p("cut.ndz")}: chunk 0 at image byte 0: relocation 0 (type 0, image bytes 6132 to 6232) is cut by a region boundary`);
    expect(existsSync(p("cut.raw"))).toBe(false);
  });
});
