import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES, V4_FIELDS, encodeChunkHeader, encodeDeltaMarker, parseChunkHeader, type ChunkHeader, type ChunkHeaderInput } from "../../../core/image/index.js";
import { ImageCorruptError, readImageHeaders } from "../../../real/image/headers.js";
import { chunkIdentity, fileDigest } from "../../../real/image/identity.js";
import { ImageIoError } from "../../../real/image/source.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/*
 * Reading an image's headers and identity (real/image/headers.ts, identity.ts) in-process: each
 * refusal by its message and class, chunks that disagree, a digest read in pieces, and that every
 * file opened is closed again, also on a refusal.
 */
const dir = mkdtempSync(join(tmpdir(), "testbed-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);
const ndz = readFileSync(emulabFixture("disk-4mib.ndz"));

/** Open file descriptors of this process: a reader that forgets to close leaves one more. */
const openFds = (): number => readdirSync("/proc/self/fd").length;

async function refusal(f: () => Promise<unknown>): Promise<Error> {
  const error = await f().then(
    () => new Error("nothing thrown"),
    (e: unknown) => e as Error,
  );
  return error;
}

describe("readImageHeaders", () => {
  it("reads every chunk header of an image and closes the file", async () => {
    const before = openFds();
    const { imageBytes, headers } = await readImageHeaders(emulabFixture("disk-4mib.ndz"));
    expect(openFds()).toBe(before);
    expect(imageBytes).toBe(2 * CHUNK_BYTES);
    expect(headers.map((h) => [h.chunkIndex, h.firstSector, h.lastSector])).toEqual([[0, 0, 5101], [1, 5101, 8192]]);
  });

  it("refuses a folder, an empty file, a missing file and a path through a file, each in one line", async () => {
    mkdirSync(p("folder.ndz"));
    const folder = await refusal(() => readImageHeaders(p("folder.ndz")));
    expect(folder).toBeInstanceOf(ImageCorruptError);
    expect(folder.message).toBe(`${p("folder.ndz")}: is a directory, not an image`);
    writeFileSync(p("empty.ndz"), "");
    const before = openFds();
    const empty = await refusal(() => readImageHeaders(p("empty.ndz")));
    expect(openFds()).toBe(before);
    expect(empty).toBeInstanceOf(ImageCorruptError);
    expect(empty.message).toBe(`${p("empty.ndz")}: empty file, not an image`);
    const missing = await refusal(() => readImageHeaders(p("missing.ndz")));
    expect(missing).toBeInstanceOf(ImageIoError);
    expect(missing.message).toBe(`${p("missing.ndz")}: no such image file`);
    expect((missing as ImageIoError).badInput).toBe(true);
    const behind = await refusal(() => readImageHeaders(join(p("empty.ndz"), "x")));
    expect(behind).toBeInstanceOf(ImageIoError);
    expect(behind.message).toBe(`${join(p("empty.ndz"), "x")}: cannot read the image (a part of the path is not a directory)`);
  });

  it("names the last chunk when it is cut short, after its header or inside it", async () => {
    writeFileSync(p("cut-after.ndz"), ndz.subarray(0, CHUNK_BYTES + 5000));
    const after = await refusal(() => readImageHeaders(p("cut-after.ndz")));
    expect(after).toBeInstanceOf(ImageCorruptError);
    expect(after.message).toBe(`${p("cut-after.ndz")}: chunk 1 at image byte 1048576: cut short: 5000 of its 1048576 bytes, the 1043576 from image byte 1053576 on are missing`);
    writeFileSync(p("cut-inside.ndz"), ndz.subarray(0, CHUNK_BYTES + 100));
    const before = openFds();
    const inside = await refusal(() => readImageHeaders(p("cut-inside.ndz")));
    expect(openFds()).toBe(before);
    expect(inside).toBeInstanceOf(ImageCorruptError);
    expect(inside.message).toMatch(new RegExp(`^${p("cut-inside.ndz")}: chunk 1 at image byte \\d+: `));
    expect(inside.message).not.toMatch(/unexpected end of input/);
  });
});

/** A chunk header as the reader gives it. */
function header(h: Partial<ChunkHeaderInput> & { chunkIndex: number }): ChunkHeader {
  const r = parseChunkHeader(encodeChunkHeader({ compressedBytes: 100, firstSector: h.chunkIndex * 10, lastSector: h.chunkIndex * 10 + 10, regions: [{ startSector: h.chunkIndex * 10, sectorCount: 1 }], ...h }), h.chunkIndex);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
const idA = new Uint8Array(16).fill(0xa);
const idB = new Uint8Array(16).fill(0xb);
const v4 = (imageId: Uint8Array, iv?: Uint8Array): NonNullable<ChunkHeaderInput["v4"]> => ({ csumType: 1, imageId, ...(iv === undefined ? {} : { iv }) });

describe("chunkIdentity", () => {
  it("of version-3 chunks: their version, no image id, no delta marker", () => {
    expect(chunkIdentity("a.ndz", [header({ chunkIndex: 0 }), header({ chunkIndex: 1 })])).toEqual({ version: 3, v4Id: null, delta: null });
  });

  it("of version-4 chunks that agree: the image id and the delta marker", () => {
    const marker = encodeDeltaMarker({ kind: "delta", deltaId: idB });
    const got = chunkIdentity("d.ndz", [header({ chunkIndex: 0, v4: v4(idA, marker) }), header({ chunkIndex: 1, v4: v4(idA, marker) })]);
    expect(got).toEqual({ version: 4, v4Id: idA, delta: { kind: "delta", deltaId: idB } });
  });

  it("refuses chunks of another version, another image id or another delta marker, naming the first that differs", () => {
    const a0 = header({ chunkIndex: 0, v4: v4(idA) });
    expect(() => chunkIdentity("x.ndz", [a0, header({ chunkIndex: 1, v4: v4(idA) }), header({ chunkIndex: 2 })])).toThrow(
      new ImageCorruptError("x.ndz: chunk 2 at image byte 2097152: version 3, but chunk 0 is version 4"),
    );
    expect(() => chunkIdentity("x.ndz", [a0, header({ chunkIndex: 1, v4: v4(idB) })])).toThrow(
      new ImageCorruptError(`x.ndz: chunk 1 at image byte ${CHUNK_BYTES + V4_FIELDS.imageId}: image id ${"0b".repeat(16)}, but chunk 0 says ${"0a".repeat(16)}: chunks of two images`),
    );
    const delta = (kind: "delta" | "full", id: Uint8Array): Uint8Array => encodeDeltaMarker({ kind, deltaId: id });
    const differing: [Uint8Array | undefined, Uint8Array | undefined][] = [
      [undefined, delta("delta", idB)],
      [delta("delta", idB), undefined],
      [delta("delta", idB), delta("full", idB)],
      [delta("delta", idB), delta("delta", idA)],
    ];
    for (const [first, second] of differing) {
      expect(() => chunkIdentity("x.ndz", [header({ chunkIndex: 0, v4: v4(idA, first) }), header({ chunkIndex: 1, v4: v4(idA, second) })])).toThrow(
        /^x\.ndz: chunk 1 at image byte \d+: its delta marker differs from chunk 0's: chunks of two images$/,
      );
    }
  });
});

describe("fileDigest", () => {
  it("is the SHA-256 of the whole file, read in pieces (a last piece shorter than the others), and closes it", async () => {
    const bytes = Buffer.alloc(8 * CHUNK_BYTES + 1536);
    for (let i = 0; i < bytes.length; i += 997) bytes[i] = i & 0xff;
    writeFileSync(p("big.bin"), bytes);
    const before = openFds();
    const digest = await fileDigest(p("big.bin"), bytes.length);
    expect(openFds()).toBe(before);
    expect(Buffer.from(digest).toString("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
    writeFileSync(p("small.bin"), "abc");
    expect(Buffer.from(await fileDigest(p("small.bin"), 3)).toString("hex")).toBe(createHash("sha256").update("abc").digest("hex"));
  });
});
