import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES, EMPTY_DELTA_BYTES, HASH_TYPE_MD5, HASH_TYPE_SHA1, HASH_TYPE_SHA256, HEADER_AREA_BYTES, SignatureBuilder, diskLayout, parseChunkHeader, toHex, type Region } from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";
import { loadDeltaBase, makeDelta, type DeltaOptions } from "../../../real/image/delta.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { imageIdentity } from "../../../real/image/identity.js";
import { reloadImage, WrongBaseError } from "../../../real/image/reload.js";
import { makeSignature, readSignature, signatureBytes } from "../../../real/image/signature.js";
import { ImageCorruptError, readImageHeaders } from "../../../real/image/unzip.js";
import { emulabFixture } from "../../fixtures/emulab.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-delta-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const S = 512;
const p = (name: string): string => join(dir, name);

const ext2 = gunzipSync(readFileSync(emulabFixture("ext2-8mib.img.gz")));
const edited = gunzipSync(readFileSync(emulabFixture("ext2-8mib-edited.img.gz")));
writeFileSync(p("edited.img"), edited);

const opts: DeltaOptions = { level: 4, engine: nodeEngine, thresholdPercent: 80, granularityBytes: 4096, fsAware: true };

function inUse(disk: Uint8Array): Region[] {
  return diskLayout({ sizeBytes: disk.length, read: (o, l) => disk.subarray(o, o + l) }).fsInUse;
}

function sameOn(a: Uint8Array, b: Uint8Array, ranges: readonly Region[]): boolean {
  return ranges.every((r) => Buffer.from(a.subarray(r.startSector * S, (r.startSector + r.sectorCount) * S)).equals(Buffer.from(b.subarray(r.startSector * S, (r.startSector + r.sectorCount) * S))));
}

async function regionsOf(image: string): Promise<Region[]> {
  return (await readImageHeaders(image)).headers.flatMap((h) => h.regions);
}

describe("a signature from the image alone", () => {
  it("of the original's ext2 image names it by content and lists the original's pieces, aligned to 64 KiB", async () => {
    const made = await makeSignature(emulabFixture("ext2-8mib.ndz"));
    const id = await imageIdentity(emulabFixture("ext2-8mib.ndz"));
    expect(made.signature.identity).toMatchObject({ imageBytes: 2 * CHUNK_BYTES, alignment: "absolute" });
    expect(toHex(made.signature.identity!.imageDigest)).toBe("ae55af4fdd8702b97f87db82226a8ae8ff15d69ec6dd87d7e3f0d39e106ce655");
    expect(made.signature.identity!.imageId).toEqual(id.imageId);
    expect(made.checks.none).toBe(2);
    writeFileSync(p("ext2.sig"), signatureBytes(made.signature));
    expect(await readSignature(p("ext2.sig"))).toEqual(made.signature);
  });

  it("hashes its pieces on the thread pool (SHA-1, SHA-256) or here (MD5) to the entries a builder fed region by region gives", async () => {
    const image = emulabFixture("disk-4mib.ndz");
    await reloadImage(image, null, p("sig-ref.raw"), { zeroFill: false });
    const disk = readFileSync(p("sig-ref.raw"));
    const { headers } = await readImageHeaders(image);
    for (const hashType of [HASH_TYPE_MD5, HASH_TYPE_SHA1, HASH_TYPE_SHA256]) {
      const made = await makeSignature(image, { hashType });
      const ref = new SignatureBuilder(nodeHash, hashType, "absolute");
      headers.forEach((h, chunk) => h.regions.forEach((r) => ref.region(chunk, r.startSector, disk.subarray(r.startSector * S, (r.startSector + r.sectorCount) * S))));
      expect(made.signature.entries.length).toBeGreaterThan(2);
      expect(made.signature.entries).toEqual(ref.entries);
    }
  });

  it("of a version-4 image checks every chunk's signed checksum with the key, or says it could not", async () => {
    const plain = await makeSignature(emulabFixture("disk-4mib-v4.ndz"));
    expect(plain.checks).toMatchObject({ "signed-not-verified": 2 });
    expect(toHex(plain.signature.identity!.imageId)).toBe("0123456789abcdef0123456789abcdef");
  });
});

describe("a delta of the edited ext2 file system against the original's image", () => {
  it("holds only new and changed blocks in use (not the deleted file's), and laid over the base restores every block in use", async () => {
    const base = await loadDeltaBase(p("ext2.sig"));
    const r = await makeDelta(base, p("ext2.sig"), p("edited.img"), p("ext2.delta.ndz"), opts);
    expect(r.kind).toBe("delta");
    expect(r.notes).toEqual(["the disk: ext2, 1 KiB blocks, 2305 of 8192 in use"]);
    // f1.bin's blocks were freed: nothing of the delta lies where only f1.bin was
    expect(r.stats.freedSectors).toBeGreaterThan(900);
    expect(r.dataBytes).toBeLessThan(700_000);
    const used = inUse(edited);
    for (const g of await regionsOf(p("ext2.delta.ndz"))) expect(used.some((u) => g.startSector >= u.startSector && g.startSector + g.sectorCount <= u.startSector + u.sectorCount)).toBe(true);
    const result = await reloadImage(emulabFixture("ext2-8mib.ndz"), p("ext2.delta.ndz"), p("ext2.restored"), { zeroFill: false });
    expect(result.layers).toBe("base+delta");
    const restored = new Uint8Array(readFileSync(p("ext2.restored")));
    expect(sameOn(restored, edited, used)).toBe(true);
    expect(inUse(restored)).toEqual(used);
  });

  it("is made the same from the image as from its signature", async () => {
    const fromImage = await makeDelta(await loadDeltaBase(emulabFixture("ext2-8mib.ndz")), emulabFixture("ext2-8mib.ndz"), p("edited.img"), p("ext2.delta2.ndz"), opts);
    expect(await regionsOf(p("ext2.delta2.ndz"))).toEqual(await regionsOf(p("ext2.delta.ndz")));
    expect(fromImage.baseId).toBe(toHex((await imageIdentity(emulabFixture("ext2-8mib.ndz"))).imageId));
  });

  it("is an ordinary version-4 image naming its base in every chunk", async () => {
    const h = parseChunkHeader(readFileSync(p("ext2.delta.ndz")).subarray(0, HEADER_AREA_BYTES), 0);
    expect(h.ok && h.value.version).toBe(4);
    expect(h.ok && toHex(h.value.v4!.imageId)).toBe(toHex((await imageIdentity(emulabFixture("ext2-8mib.ndz"))).imageId));
  });
});

describe("bad input, refused in one line before a byte of the target is written", () => {
  it("a delta laid over another base", async () => {
    await expect(reloadImage(emulabFixture("disk-4mib.ndz"), p("ext2.delta.ndz"), p("never.raw"), { zeroFill: false })).rejects.toThrow(WrongBaseError);
    await expect(reloadImage(emulabFixture("disk-4mib.ndz"), p("ext2.delta.ndz"), p("never.raw"), { zeroFill: false })).rejects.toThrow(/ext2\.delta\.ndz: chunk 0 at image byte 328: was made against image [0-9a-f]{32}, but .*disk-4mib\.ndz is image [0-9a-f]{32}: wrong base; nothing written$/);
    expect(existsSync(p("never.raw"))).toBe(false);
  });

  it("a delta whose chunk is damaged, onto a target written in place, which stays as it was", async () => {
    const bad = Buffer.from(readFileSync(p("ext2.delta.ndz")));
    bad[HEADER_AREA_BYTES + 500]! ^= 0x10;
    writeFileSync(p("bad.delta.ndz"), bad);
    writeFileSync(p("inplace.raw"), Buffer.alloc(8 * 1024 * 1024, 0x77));
    await expect(reloadImage(emulabFixture("ext2-8mib.ndz"), p("bad.delta.ndz"), p("inplace.raw"), { zeroFill: false, fixedSize: true })).rejects.toThrow(/bad\.delta\.ndz: chunk 0 at image byte 72: SHA-1 checksum mismatch/);
    expect(readFileSync(p("inplace.raw")).equals(Buffer.alloc(8 * 1024 * 1024, 0x77))).toBe(true);
  });

  it("a base that is itself a delta, and a delta that is not one", async () => {
    await expect(reloadImage(p("ext2.delta.ndz"), p("ext2.delta.ndz"), p("never.raw"), { zeroFill: false })).rejects.toThrow(/is itself a delta, not a base image/);
    await expect(reloadImage(emulabFixture("ext2-8mib.ndz"), emulabFixture("disk-4mib.ndz"), p("never.raw"), { zeroFill: false })).rejects.toThrow(/is not a delta/);
    expect(existsSync(p("never.raw"))).toBe(false);
  });

  it("a truncated or corrupt signature, and the original's signature that does not name its image", async () => {
    const sig = readFileSync(p("ext2.sig"));
    writeFileSync(p("cut.sig"), sig.subarray(0, 500));
    await expect(loadDeltaBase(p("cut.sig"))).rejects.toThrow(/cut\.sig: byte 500: truncated: the header lists 45 entries/);
    const flipped = Buffer.from(sig);
    flipped[110]! ^= 1;
    writeFileSync(p("flipped.sig"), flipped);
    await expect(loadDeltaBase(p("flipped.sig"))).rejects.toThrow(/flipped\.sig: byte 1544: the file's SHA-256 does not match its trailer/);
    await expect(loadDeltaBase(emulabFixture("ext2-8mib.ndz.sig"))).rejects.toThrow(/does not name its image/);
    await expect(loadDeltaBase(p("cut.sig"))).rejects.toThrow(ImageCorruptError);
  });

  it("the signature of another image: the delta then names that image, and the real base refuses it", async () => {
    writeFileSync(p("disk.raw"), gunzipSync(readFileSync(emulabFixture("disk-4mib.raw.gz"))));
    const other = await loadDeltaBase(emulabFixture("disk-4mib.ndz"));
    await expect(makeDelta(other, "disk-4mib.ndz", p("edited.img"), p("other.delta.ndz"), opts)).resolves.toMatchObject({ kind: "full" });
    await expect(reloadImage(emulabFixture("ext2-8mib.ndz"), p("other.delta.ndz"), p("never.raw"), { zeroFill: false })).rejects.toThrow(WrongBaseError);
  });
});

describe("the threshold and the empty delta", () => {
  it("writes a full image when the delta would be over the threshold, and the full image alone restores the disk", async () => {
    const base = await loadDeltaBase(p("ext2.sig"));
    const r = await makeDelta(base, p("ext2.sig"), p("edited.img"), p("low.ndz"), { ...opts, thresholdPercent: 5 });
    expect(r.kind).toBe("full");
    const out = await reloadImage(emulabFixture("ext2-8mib.ndz"), p("low.ndz"), p("low.restored"), { zeroFill: false });
    expect(out.layers).toBe("full");
    expect(sameOn(new Uint8Array(readFileSync(p("low.restored"))), edited, inUse(edited))).toBe(true);
  });

  it("writes an empty delta of one 344-byte chunk header when nothing changed, and base then delta restores the disk", async () => {
    writeFileSync(p("same.img"), ext2);
    const r = await makeDelta(await loadDeltaBase(p("ext2.sig")), p("ext2.sig"), p("same.img"), p("empty.ndz"), opts);
    expect(r).toMatchObject({ kind: "delta", chunks: 1, regions: 0, dataBytes: 0, compressedBytes: 0, imageBytes: EMPTY_DELTA_BYTES, writtenBytes: EMPTY_DELTA_BYTES });
    expect(readFileSync(p("empty.ndz")).length).toBe(344);
    const out = await reloadImage(emulabFixture("ext2-8mib.ndz"), p("empty.ndz"), p("same.restored"), { zeroFill: false });
    expect(out).toMatchObject({ layers: "base+delta", chunks: 3, checks: { sha1: 1 } });
    expect(sameOn(new Uint8Array(readFileSync(p("same.restored"))), ext2, inUse(ext2))).toBe(true);
  });
});

describe("base then delta, on generated raw disks", () => {
  it("reproduces the new disk byte for byte", async () => {
    const edit = fc.record({ at: fc.nat(), sectors: fc.integer({ min: 1, max: 300 }), fill: fc.integer({ min: -1, max: 3 }) });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 64 }), fc.nat(), fc.array(edit, { maxLength: 6 }), fc.integer({ min: 1, max: 100 }), fc.constantFrom(0, 1, 2), async (blocks64k, seed, edits, threshold, threads) => {
        const k = n++;
        const sectors = blocks64k * 128;
        const old = new Uint8Array(sectors * S);
        let x = seed | 1;
        for (let i = 0; i < old.length; i += 4096) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          if (x % 3 === 0) continue; // free space: zeros
          old.fill(x & 0xff, i, i + 4096);
          old[i + 7] = x >>> 8;
        }
        const next = old.slice();
        for (const e of edits) {
          const at = e.at % sectors;
          const end = Math.min(sectors, at + e.sectors);
          if (e.fill < 0) next.copyWithin(at * S, 0, (end - at) * S);
          else next.fill(e.fill * 85, at * S, end * S);
        }
        writeFileSync(p(`g${k}.old`), old);
        writeFileSync(p(`g${k}.new`), next);
        const { createImage } = await import("../../../real/image/create.js");
        await createImage(p(`g${k}.old`), p(`g${k}.ndz`), { level: 1, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "sequential", jobs: 1 });
        await makeDelta(await loadDeltaBase(p(`g${k}.ndz`)), p(`g${k}.ndz`), p(`g${k}.new`), p(`g${k}.delta`), { ...opts, thresholdPercent: threshold, threads });
        await reloadImage(p(`g${k}.ndz`), p(`g${k}.delta`), p(`g${k}.restored`), { zeroFill: false });
        expect(readFileSync(p(`g${k}.restored`)).equals(Buffer.from(next))).toBe(true);
        for (const f of ["old", "new", "ndz", "delta", "restored"]) rmSync(p(`g${k}.${f}`), { force: true });
      }),
      { numRuns: 25 },
    );
  });
});

describe("a delta of a disk of many windows, read and hashed on threads", () => {
  it("holds the same ranges made on threads as on this thread, and base then delta reproduces the disk (pieces edited, zeroed, and a disk unchanged)", async () => {
    const { fillDiskLike } = await import("../../../real/image/disklike.js");
    const { createImage } = await import("../../../real/image/create.js");
    const old = new Uint8Array(18 * 1024 * 1024); // four and a half 4 MiB windows
    fillDiskLike(old, 5);
    writeFileSync(p("mw.old"), old);
    await createImage(p("mw.old"), p("mw.ndz"), { level: 1, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "sequential", jobs: 1 });
    const next = old.slice();
    for (let b = 3; b < old.length / 65536; b += 37) next[b * 65536 + 100] = next[b * 65536 + 100]! ^ 0xff; // one byte in a piece
    next.fill(0, 9 * 1024 * 1024, 9 * 1024 * 1024 + 3 * 65536); // pieces that held data now zeros (raw: changed)
    next.fill(7, 17 * 1024 * 1024 + 512, 17 * 1024 * 1024 + 1024); // one sector of what may have been free
    writeFileSync(p("mw.new"), next);
    const base = await loadDeltaBase(p("mw.ndz"));
    for (const [disk, bytes] of [["mw.new", next], ["mw.old", old]] as const) {
      const made = [];
      for (const threads of [0, 2]) {
        const r = await makeDelta(base, p("mw.ndz"), p(disk), p(`mw-${threads}.delta`), { ...opts, threads });
        made.push({ stats: r.stats, dataBytes: r.dataBytes, regions: r.kind === "delta" && r.chunks > 0 && r.dataBytes > 0 ? await regionsOf(p(`mw-${threads}.delta`)) : [] });
        await reloadImage(p("mw.ndz"), p(`mw-${threads}.delta`), p("mw.restored"), { zeroFill: false });
        expect(readFileSync(p("mw.restored")).equals(Buffer.from(bytes))).toBe(true);
      }
      expect(made[1]).toEqual(made[0]);
      if (disk === "mw.old") expect(made[0]!.dataBytes).toBe(0);
      else expect(made[0]!.stats.changedPieces).toBeGreaterThanOrEqual(8);
    }
  });
});

describe("a delta of a disk that did not change", () => {
  async function emptyDeltaOf(name: string, disk: Uint8Array): Promise<string> {
    writeFileSync(p(`${name}.raw`), disk);
    const { createImage } = await import("../../../real/image/create.js");
    await createImage(p(`${name}.raw`), p(`${name}.ndz`), { level: 4, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "sequential", jobs: 1 });
    const r = await makeDelta(await loadDeltaBase(p(`${name}.ndz`)), p(`${name}.ndz`), p(`${name}.raw`), p(`${name}.delta`), { ...opts, fsAware: false });
    expect(r).toMatchObject({ kind: "delta", chunks: 1, regions: 0, writtenBytes: 344 });
    return p(`${name}.delta`);
  }

  it("is one chunk header naming the base, laid as nothing: over a copy of the disk in place, and base then delta", async () => {
    const disk = new Uint8Array(2 * 1024 * 1024);
    for (let i = 0; i < disk.length; i++) disk[i] = 1 + (((i * 2654435761) >>> 24) % 255);
    const delta = await emptyDeltaOf("same", disk);
    const [h] = (await readImageHeaders(delta)).headers;
    expect(h).toMatchObject({ regionAreaBytes: 344, compressedBytes: 0, regions: [], firstSector: 0, lastSector: disk.length / S });
    expect(toHex(h!.v4!.imageId)).toBe(toHex((await imageIdentity(p("same.ndz"))).imageId));
    expect((await imageIdentity(delta)).delta?.kind).toBe("delta");
    writeFileSync(p("same.copy"), disk);
    const over = await reloadImage(p("same.ndz"), delta, p("same.copy"), { zeroFill: false, baseInPlace: true });
    expect(over).toMatchObject({ layers: "delta", dataBytes: 0, zeroBytes: 0 });
    expect(readFileSync(p("same.copy")).equals(Buffer.from(disk))).toBe(true);
    await reloadImage(p("same.ndz"), delta, p("same.restored"), { zeroFill: false });
    expect(readFileSync(p("same.restored")).equals(Buffer.from(disk))).toBe(true);
  });

  it("is refused on another base, damaged, or cut, in one line naming the file and byte, the target untouched", async () => {
    const disk = new Uint8Array(1024 * 1024).fill(7);
    const delta = await emptyDeltaOf("lone", disk);
    const good = readFileSync(delta);
    writeFileSync(p("lone.target"), "untouched");
    const refusal = async (bytes: Uint8Array, base = p("lone.ndz")): Promise<string> => {
      writeFileSync(p("lone.bad"), bytes);
      const e = await reloadImage(base, p("lone.bad"), p("lone.target"), { zeroFill: false }).catch((error: unknown) => error);
      expect(e).toBeInstanceOf(ImageCorruptError);
      expect(readFileSync(p("lone.target"), "utf8")).toBe("untouched");
      return (e as Error).message;
    };
    expect(await refusal(good, emulabFixture("ext2-8mib.ndz"))).toMatch(/lone\.bad: chunk 0 at image byte 328: was made against image .* wrong base; nothing written/);
    const flipped = Buffer.from(good);
    flipped[200]! ^= 1; // inside the checksum field's unused tail: only the SHA-1 can tell
    expect(await refusal(flipped)).toMatch(/lone\.bad: chunk 0 at image byte 72: SHA-1 checksum mismatch/);
    expect(await refusal(good.subarray(0, 343))).toMatch(/lone\.bad: chunk 0 at image byte 0: cut short: 343 of its 1048576 bytes/);
    const unmarked = Buffer.from(good);
    unmarked[40] = 0; // the delta marker's first byte
    expect(await refusal(unmarked)).toMatch(/lone\.bad: chunk 0 at image byte 40: a file of one 344-byte chunk header is an empty delta, but this one has no delta marker/);
  });
});
