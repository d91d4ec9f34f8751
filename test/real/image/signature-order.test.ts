import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES } from "../../../core/image/index.js";
import { ImageCorruptError } from "../../../real/image/errors.js";
import { makeSignature } from "../../../real/image/signature.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/*
 * A chunk's regions are checked to be ascending by the header parser; across chunks makeSignature
 * checks them, so an image whose chunks overlap is refused in one line (exit 2) rather than
 * failing inside the signature builder, which refuses overlapping pieces.
 */

const dir = mkdtempSync(join(tmpdir(), "testbed-sig-order-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("image signature over chunks whose regions overlap", () => {
  it("refuses, naming the chunk and both sectors; the untouched image signs", async () => {
    const image = readFileSync(emulabFixture("disk-4mib.ndz"));
    const good = join(dir, "good.ndz");
    writeFileSync(good, image);
    expect((await makeSignature(good)).signature.entries.length).toBeGreaterThan(0);
    // Chunk 1 holds one region [5101, +3091) (version 3: first sector at byte 24, the region at 36).
    const bad = Buffer.from(image);
    bad.writeUInt32LE(5000, CHUNK_BYTES + 24);
    bad.writeUInt32LE(5000, CHUNK_BYTES + 36);
    const path = join(dir, "overlap.ndz");
    writeFileSync(path, bad);
    const error = await makeSignature(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageCorruptError);
    expect((error as Error).message).toBe(`${path}: chunk 1: its region at sector 5000 starts before the end of an earlier chunk's regions (sector 5101)`);
  });
});
