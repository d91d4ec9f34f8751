import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_BYTES, normalize, type Region } from "../../../core/image/index.js";
import { forEachChunk } from "../../../real/image/chunks.js";
import { createImage, type CreateOptions } from "../../../real/image/create.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { nodeHash } from "../../../real/image/hash.js";
import { reloadImage } from "../../../real/image/reload.js";
import { readImageHeaders } from "../../../real/image/unzip.js";
import { emulabFixture } from "../../fixtures/emulab.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-create-fs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);
const o: CreateOptions = { level: 4, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "segmented", jobs: 2 };

async function regions(image: string): Promise<Region[]> {
  return normalize((await readImageHeaders(image)).headers.flatMap((h) => h.regions));
}

function tool(name: string): boolean {
  return spawnSync(name, ["-V"], { encoding: "utf8" }).error === undefined;
}

describe("images of file systems", () => {
  it("of the ext2 fixture hold exactly the ranges the original imagezip -l took, in checksummed version-4 chunks", async () => {
    writeFileSync(p("ext2.img"), gunzipSync(readFileSync(emulabFixture("ext2-8mib.img.gz"))));
    const r = await createImage(p("ext2.img"), p("ext2.ndz"), o);
    expect(r).toMatchObject({ version: 4, notes: ["the disk: ext2, 1 KiB blocks, 2795 of 8192 in use"], allocatedBytes: 5590 * 512 });
    expect(await regions(p("ext2.ndz"))).toEqual(await regions(emulabFixture("ext2-8mib.ndz")));
    const checks: string[] = [];
    const fh = await open(p("ext2.ndz"), "r");
    await forEachChunk(fh, p("ext2.ndz"), (await readImageHeaders(p("ext2.ndz"))).headers, { hash: nodeHash }, (c) => void checks.push(c.check));
    await fh.close();
    expect(checks).toEqual(Array.from({ length: r.chunks }, () => "sha1"));
    expect(r.imageBytes).toBeLessThanOrEqual(2 * CHUNK_BYTES);
  });

  it("of a disk with no file system say they read it raw", async () => {
    writeFileSync(p("raw.img"), gunzipSync(readFileSync(emulabFixture("disk-4mib.raw.gz"))));
    const r = await createImage(p("raw.img"), p("raw.ndz"), o);
    expect(r.notes).toEqual(["no partition table and no ext2/3/4 file system: raw, all-zero blocks skipped"]);
    expect(r.allocatedBytes).toBe(11 * 256 * 1024);
  });

  it.skipIf(!tool("mkfs.ext4") || !tool("debugfs") || !tool("e2fsck"))("of a used ext4 file system (flex_bg, uninitialised groups) skip its free and deleted blocks and restore a clean file system", async () => {
    const img = p("ext4.img");
    writeFileSync(img, Buffer.alloc(64 * 1024 * 1024));
    expect(spawnSync("mkfs.ext4", ["-F", "-q", "-b", "4096", img]).status).toBe(0);
    const files = [0, 1, 2].map((i) => {
      const data = Buffer.alloc(3 * 1024 * 1024);
      for (let k = 0; k < data.length; k += 4) data.writeUInt32LE((k * 2654435761 + i) >>> 0, k);
      writeFileSync(p(`f${i}`), data);
      return data;
    });
    const cmds = ["write", "write", "write"].map((w, i) => `${w} ${p(`f${i}`)} f${i}`).join("\n") + "\nrm f1\n";
    writeFileSync(p("cmds"), cmds);
    expect(spawnSync("debugfs", ["-w", "-f", p("cmds"), img], { encoding: "utf8" }).status).toBe(0);
    const r = await createImage(img, p("ext4.ndz"), o);
    expect(r.notes[0]).toMatch(/^the disk: ext4, 4 KiB blocks, \d+ of 16384 in use$/);
    // two 3 MiB files and the metadata (journal included), not the deleted one, not the free space
    expect(r.allocatedBytes).toBeGreaterThan(6 * 1024 * 1024);
    expect(r.allocatedBytes).toBeLessThan(16 * 1024 * 1024);
    await reloadImage(p("ext4.ndz"), null, p("ext4.restored"), { zeroFill: false });
    const fsck = spawnSync("e2fsck", ["-fn", p("ext4.restored")], { encoding: "utf8" });
    expect(fsck.status, fsck.stdout).toBe(0);
    spawnSync("debugfs", ["-R", `dump f2 ${p("f2.out")}`, p("ext4.restored")]);
    expect(readFileSync(p("f2.out")).equals(files[2]!)).toBe(true);
  });
});
