import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES, SECTOR_BYTES, SECTOR_LIMIT, V4_FIELDS, parseSigningKey, toHex } from "../../../core/image/index.js";
import { OutputError } from "../../../real/output/index.js";
import { createImage } from "../../../real/image/create.js";
import { loadDeltaBase, makeDelta, type DeltaOptions } from "../../../real/image/delta.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { ImageCorruptError } from "../../../real/image/headers.js";
import { imageIdentity } from "../../../real/image/identity.js";
import { looksLikeSignature, makeSignature, readSignature, signatureBytes } from "../../../real/image/signature.js";
import { reloadImage } from "../../../real/image/reload.js";
import { ImageIoError } from "../../../real/image/source.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/*
 * The delta's and the signature's edges, in-process: loadDeltaBase of a delta or with a key,
 * makeDelta's refusals (the disk, and an output that is the base), stopping, progress; signature
 * files that are not one, and makeSignature's progress and key.
 */
const dir = mkdtempSync(join(tmpdir(), "testbed-delta-edges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);
const opts: DeltaOptions = { level: 1, engine: nodeEngine, thresholdPercent: 80, granularityBytes: 4096, fsAware: false };

const key = (() => {
  const k = parseSigningKey(readFileSync(emulabFixture("disk-4mib-v4.ndz.skey"), "utf8"));
  if (!k.ok) throw new Error(k.error);
  return k.value;
})();

/** A 2 MiB disk with data in its first MiB, its image, and an edited copy. */
const disk = Buffer.alloc(2 * 1024 * 1024);
for (let i = 0; i < 1024 * 1024; i += 4) disk.writeUInt32LE(Math.imul(i + 3, 2654435761) >>> 0, i);
const edited = Buffer.from(disk);
edited.fill(0x42, 8192, 16384);
beforeAll(async () => {
  writeFileSync(p("disk.raw"), disk);
  writeFileSync(p("edited.raw"), edited);
  await createImage(p("disk.raw"), p("base.ndz"), { level: 1, granularityBytes: 4096, skipFree: true, fsAware: false, engine: nodeEngine, layout: "sequential", jobs: 1 });
  writeFileSync(p("base.sig"), signatureBytes((await makeSignature(p("base.ndz"))).signature));
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => new Error("nothing thrown"),
    (e: unknown) => e as Error,
  );
}

describe("loadDeltaBase", () => {
  it("refuses a delta, and a full image saved as one, as a base, naming the image they belong to", async () => {
    const base = await loadDeltaBase(p("base.sig"));
    await makeDelta(base, p("base.sig"), p("edited.raw"), p("a.delta"), opts);
    await makeDelta(base, p("base.sig"), p("edited.raw"), p("a.full"), { ...opts, thresholdPercent: 0 });
    const id = toHex((await imageIdentity(p("base.ndz"))).imageId);
    const delta = await rejection(loadDeltaBase(p("a.delta")));
    expect(delta).toBeInstanceOf(ImageCorruptError);
    expect(delta.message).toBe(`${p("a.delta")}: is a delta of image ${id}, not a base image; deltas are always made against the base`);
    const full = await rejection(loadDeltaBase(p("a.full")));
    expect(full.message).toBe(`${p("a.full")}: is a full image saved as a delta of image ${id}, not a base image; deltas are always made against the base`);
  });

  it("checks a signed image's chunks with the key while making its signature", async () => {
    const bad = Buffer.from(readFileSync(emulabFixture("disk-4mib-v4.ndz")));
    bad[CHUNK_BYTES + V4_FIELDS.checksum + 10]! ^= 0x01;
    writeFileSync(p("badsig.ndz"), bad);
    await expect(loadDeltaBase(p("badsig.ndz"))).resolves.toBeDefined();
    await expect(loadDeltaBase(p("badsig.ndz"), key)).rejects.toThrow(/badsig\.ndz: chunk 1 at image byte \d+: /);
  });
});

describe("makeDelta refuses", () => {
  it("a disk not of whole sectors, over 2^32 sectors, or shorter than the base's image (bad input or the wrong base)", async () => {
    const base = await loadDeltaBase(p("base.sig"));
    writeFileSync(p("odd.raw"), Buffer.alloc(1000));
    const odd = await rejection(makeDelta(base, p("base.sig"), p("odd.raw"), p("never.delta"), opts));
    expect(odd).toBeInstanceOf(ImageIoError);
    expect(odd.message).toBe(`${p("odd.raw")}: size 1000 is not a whole number of 512-byte sectors`);
    expect((odd as ImageIoError).badInput).toBe(true);
    const hugeBytes = (SECTOR_LIMIT + 1) * SECTOR_BYTES;
    const fd = openSync(p("huge.raw"), "w");
    try {
      ftruncateSync(fd, hugeBytes);
    } finally {
      closeSync(fd);
    }
    const huge = await rejection(makeDelta(base, p("base.sig"), p("huge.raw"), p("never.delta"), opts));
    rmSync(p("huge.raw"));
    expect(huge).toBeInstanceOf(ImageIoError);
    expect(huge.message).toBe(`${p("huge.raw")}: ${hugeBytes} bytes is over the format's 2 TiB (2^32 sectors)`);
    expect((huge as ImageIoError).badInput).toBe(true);
    writeFileSync(p("short.raw"), disk.subarray(0, 512 * 1024));
    const short = await rejection(makeDelta(base, p("base.sig"), p("short.raw"), p("never.delta"), opts));
    expect(short).toBeInstanceOf(ImageCorruptError);
    const end = base.signature.entries.at(-1)!;
    expect(short.message).toBe(`${p("base.sig")}: its image reaches sector ${end.startSector + end.sectorCount}, past the end of ${p("short.raw")} (1024 sectors): not this disk's base`);
  });

  it("an output that is the base image (given by its signature), which stays as it was; another image or a delta there is replaced", async () => {
    const base = await loadDeltaBase(p("base.sig"));
    writeFileSync(p("over.ndz"), readFileSync(p("base.ndz")));
    const e = await rejection(makeDelta(base, p("base.sig"), p("edited.raw"), p("over.ndz"), opts));
    expect(e).toBeInstanceOf(OutputError);
    expect(e.message).toBe(`${p("over.ndz")}: is the base image this delta is made against (image ${toHex(base.imageId)}); nothing was written`);
    expect(readFileSync(p("over.ndz")).equals(readFileSync(p("base.ndz")))).toBe(true);
    // An earlier delta of this base under the name, and an image of another disk: both replaced.
    await makeDelta(base, p("base.sig"), p("edited.raw"), p("again.delta"), opts);
    await expect(makeDelta(base, p("base.sig"), p("edited.raw"), p("again.delta"), opts)).resolves.toMatchObject({ kind: "delta" });
    writeFileSync(p("other.ndz"), readFileSync(emulabFixture("disk-4mib.ndz")));
    await expect(makeDelta(base, p("base.sig"), p("edited.raw"), p("other.ndz"), opts)).resolves.toMatchObject({ kind: "delta" });
    expect((await imageIdentity(p("other.ndz"))).delta?.kind).toBe("delta");
  });
});

describe("makeDelta while it runs", () => {
  it("stops when told to, saying where and why, and writes nothing", async () => {
    const base = await loadDeltaBase(p("base.sig"));
    const stop = new AbortController();
    stop.abort("swap-out timeout");
    const e = await rejection(makeDelta(base, p("base.sig"), p("edited.raw"), p("stopped.delta"), { ...opts, signal: stop.signal }));
    expect(e).toBeInstanceOf(ImageIoError);
    expect(e.message).toBe(`${p("edited.raw")}: stopped after 0 of 4096 sectors (swap-out timeout)`);
    await expect(imageIdentity(p("stopped.delta"))).rejects.toThrow(/no such image file/);
  });

  it("reports its progress in disk bytes, up to the whole disk", async () => {
    const calls: [number, number][] = [];
    await makeDelta(await loadDeltaBase(p("base.sig")), p("base.sig"), p("edited.raw"), p("progress.delta"), { ...opts, onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.at(-1)).toEqual([disk.length, disk.length]);
    expect(calls.every(([done, total]) => total === disk.length && done > 0 && done <= total && done % SECTOR_BYTES === 0)).toBe(true);
  });
});

describe("makeDelta against a signature of pieces aligned to their regions", () => {
  it("reads a window stretched past the one read ahead (a piece crosses its end) and reproduces the disk", async () => {
    // 10 MiB; data in sectors [8, 9000) and [12000, 20000), compressible so each region is one
    // chunk. Region-aligned 128-sector pieces then cross the 4 MiB window ends (8192, 16392).
    const big = Buffer.alloc(10 * 1024 * 1024);
    const fill = (from: number, to: number): void => {
      for (let at = from * SECTOR_BYTES, n = from; at < to * SECTOR_BYTES; n++) at += big.write(`sector text ${n} `, at);
    };
    fill(8, 9000);
    fill(12000, 20000);
    big.fill(0, 9000 * SECTOR_BYTES, 12000 * SECTOR_BYTES);
    big.fill(0, 20000 * SECTOR_BYTES);
    writeFileSync(p("big.raw"), big);
    await createImage(p("big.raw"), p("big.ndz"), { level: 1, granularityBytes: 4096, skipFree: true, fsAware: false, engine: nodeEngine, layout: "sequential", jobs: 1 });
    writeFileSync(p("big.sig"), signatureBytes((await makeSignature(p("big.ndz"), { alignment: "region" })).signature));
    const changed = Buffer.from(big);
    changed.fill(0x61, 16400 * SECTOR_BYTES, 16470 * SECTOR_BYTES);
    changed.fill(0x62, 8100 * SECTOR_BYTES, 8190 * SECTOR_BYTES);
    writeFileSync(p("big-changed.raw"), changed);
    const r = await makeDelta(await loadDeltaBase(p("big.sig")), p("big.sig"), p("big-changed.raw"), p("big.delta"), opts);
    expect(r.kind).toBe("delta");
    await reloadImage(p("big.ndz"), p("big.delta"), p("big.out"), { zeroFill: true });
    expect(readFileSync(p("big.out")).equals(changed)).toBe(true);
  });
});

describe("signature files", () => {
  it("are refused when they are a folder, missing, behind a file, or larger than a signature can be", async () => {
    mkdirSync(p("folder.sig"));
    const folder = await rejection(readSignature(p("folder.sig")));
    expect(folder).toBeInstanceOf(ImageIoError);
    expect(folder.message).toBe(`${p("folder.sig")}: not a signature file (not a regular file)`);
    expect((folder as ImageIoError).badInput).toBe(true);
    const missing = await rejection(readSignature(p("missing.sig")));
    expect(missing).toBeInstanceOf(ImageIoError);
    expect(missing.message).toBe(`${p("missing.sig")}: cannot read the signature (no such file)`);
    expect((missing as ImageIoError).badInput).toBe(true);
    const behind = await rejection(readSignature(join(p("base.sig"), "x")));
    expect(behind).toBeInstanceOf(ImageIoError);
    expect(behind.message).toMatch(new RegExp(`^${join(p("base.sig"), "x")}: cannot read the signature \\(ENOTDIR: not a directory`));
    writeFileSync(p("huge.sig"), "");
    truncateSync(p("huge.sig"), 1024 * 1024 * 1024 + 1);
    const huge = await rejection(readSignature(p("huge.sig")));
    rmSync(p("huge.sig"));
    expect(huge).toBeInstanceOf(ImageCorruptError);
    expect(huge.message).toBe(`${p("huge.sig")}: 1073741825 bytes, more than a signature can hold (1073741824)`);
  });

  it("are told from images by their first 8 bytes", async () => {
    expect(await looksLikeSignature(p("base.sig"))).toBe(true);
    expect(await looksLikeSignature(p("base.ndz"))).toBe(false);
    expect(await looksLikeSignature(p("missing.sig"))).toBe(false);
    mkdirSync(p("folder2.sig"));
    expect(await looksLikeSignature(p("folder2.sig"))).toBe(false);
    writeFileSync(p("seven.sig"), ".ndzsig");
    expect(await looksLikeSignature(p("seven.sig"))).toBe(false);
  });

  it("are made with progress per chunk, and with the key every signed chunk is verified", async () => {
    const calls: [number, number][] = [];
    const made = await makeSignature(emulabFixture("disk-4mib-v4.ndz"), { key, onProgress: (done, total) => calls.push([done, total]) });
    expect(calls).toEqual([[1, 2], [2, 2]]);
    expect(made.checks).toEqual({ none: 0, sha1: 0, "signed-not-verified": 0, signature: 2 });
    await expect(makeSignature(emulabFixture("disk-4mib.ndz"), { hashType: 99 })).rejects.toThrow("hash type 99 has no hash function");
  });
});

describe("a disk that became all zeros", () => {
  it("gets a full image of one chunk (its first sector), not an empty file, and base + it restores the zeros", async () => {
    writeFileSync(p("zeros.raw"), Buffer.alloc(disk.length));
    const base = await loadDeltaBase(p("base.sig"));
    const r = await makeDelta(base, p("base.sig"), p("zeros.raw"), p("zeros.ndz"), opts);
    expect(r.kind).toBe("full");
    expect(r.chunks).toBe(1);
    expect(readFileSync(p("zeros.ndz")).length).toBe(CHUNK_BYTES);
    await reloadImage(p("base.ndz"), p("zeros.ndz"), p("zeros.out"), { zeroFill: true });
    expect(readFileSync(p("zeros.out")).equals(Buffer.alloc(disk.length))).toBe(true);
  });
});
