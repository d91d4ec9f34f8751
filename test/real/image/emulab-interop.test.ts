import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { createImage } from "../../../real/image/create.js";
import { loadDeltaBase, makeDelta } from "../../../real/image/delta.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { makeSignature, signatureBytes } from "../../../real/image/signature.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/*
 * What the original Emulab programs make of ours. They are built by hand
 * (the shared folder's tools/build-emulab.sh, beside the project) into the folder EMULAB_BIN names; without it these tests are
 * skipped, visibly.
 */
const BIN = process.env.EMULAB_BIN ?? "";
const have = BIN !== "" && ["imagehash", "imagedump", "imageunzip"].every((t) => existsSync(join(BIN, t)));
const root = typeof process.getuid === "function" && process.getuid() === 0;
const dir = mkdtempSync(join(tmpdir(), "testbed-emulab-interop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);

function original(tool: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(join(BIN, tool), args, { cwd: dir, encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!have)(`the original Emulab tools on our files${have ? "" : " (skipped: set EMULAB_BIN to a folder of programs built by build-emulab.sh)"}`, () => {
  it("imagehash checks a disk against our signature (trailer and all), and finds the one changed piece", async () => {
    writeFileSync(p("disk.raw"), gunzipSync(readFileSync(emulabFixture("disk-4mib.raw.gz"))));
    writeFileSync(p("disk.ndz"), readFileSync(emulabFixture("disk-4mib.ndz")));
    writeFileSync(p("disk.ndz.sig"), signatureBytes((await makeSignature(p("disk.ndz"))).signature));
    expect(original("imagehash", "-d", "disk.ndz", "disk.raw").out).toMatch(/0 of 65 hashes bad/);
    const changed = readFileSync(p("disk.raw"));
    changed[3_000_000]! ^= 0xff;
    writeFileSync(p("changed.raw"), changed);
    expect(original("imagehash", "-d", "disk.ndz", "changed.raw").out).toMatch(/1 of 65 hashes bad/);
  });

  it("imagedump and imageunzip read our version-4 images", async () => {
    await createImage(p("disk.raw"), p("v4.ndz"), { level: 4, granularityBytes: 4096, skipFree: false, engine: nodeEngine, layout: "segmented", jobs: 2 });
    expect(original("imagedump", "v4.ndz").out).toMatch(/v4\.ndz: 2097152 bytes, 2 chunks, version 4, csum \(0x1\)/);
    expect(original("imageunzip", "v4.ndz", "v4.raw").code).toBe(0);
    expect(readFileSync(p("v4.raw")).equals(readFileSync(p("disk.raw")))).toBe(true);
  });

  it.skipIf(!root)("imageunzip lays our delta over its base on a block device (needs root)", async () => {
    writeFileSync(p("edited.img"), gunzipSync(readFileSync(emulabFixture("ext2-8mib-edited.img.gz"))));
    const base = emulabFixture("ext2-8mib.ndz");
    await makeDelta(await loadDeltaBase(base), base, p("edited.img"), p("delta.ndz"), { level: 4, engine: nodeEngine, thresholdPercent: 80, granularityBytes: 4096, fsAware: true });
    writeFileSync(p("node.img"), Buffer.alloc(8 * 1024 * 1024));
    const dev = spawnSync("losetup", ["-f", "--show", p("node.img")], { encoding: "utf8" }).stdout.trim();
    try {
      expect(original("imageunzip", base, dev).code).toBe(0);
      expect(original("imageunzip", "delta.ndz", dev).code).toBe(0);
    } finally {
      spawnSync("losetup", ["-d", dev]);
    }
    expect(spawnSync("e2fsck", ["-fn", p("node.img")], { encoding: "utf8" }).status).toBe(0);
    spawnSync("debugfs", ["-R", `dump /f3.bin ${p("f3.out")}`, p("node.img")]);
    spawnSync("debugfs", ["-R", `dump /f3.bin ${p("f3.want")}`, p("edited.img")]);
    expect(readFileSync(p("f3.out")).equals(readFileSync(p("f3.want")))).toBe(true);
  });

  it("imageunzip reads our empty delta (one 344-byte chunk header) as an image with nothing to lay: exit 0, no byte written", async () => {
    writeFileSync(p("same.img"), gunzipSync(readFileSync(emulabFixture("ext2-8mib.img.gz"))));
    const base = emulabFixture("ext2-8mib.ndz");
    await makeDelta(await loadDeltaBase(base), base, p("same.img"), p("empty.ndz"), { level: 4, engine: nodeEngine, thresholdPercent: 80, granularityBytes: 4096, fsAware: true });
    expect(readFileSync(p("empty.ndz")).length).toBe(344);
    const r = spawnSync(join(BIN, "imageunzip"), ["empty.ndz", "-"], { cwd: dir, encoding: "buffer" });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(0);
  });

  it.skipIf(!root)("imageunzip lays our empty delta over its base on a block device as nothing (needs root)", () => {
    const base = emulabFixture("ext2-8mib.ndz");
    writeFileSync(p("node2.img"), Buffer.alloc(8 * 1024 * 1024));
    const dev = spawnSync("losetup", ["-f", "--show", p("node2.img")], { encoding: "utf8" }).stdout.trim();
    let laid: Buffer;
    try {
      expect(original("imageunzip", base, dev).code).toBe(0);
      laid = readFileSync(dev);
      expect(original("imageunzip", "empty.ndz", dev).code).toBe(0);
      expect(readFileSync(dev).equals(laid)).toBe(true);
    } finally {
      spawnSync("losetup", ["-d", dev]);
    }
    expect(spawnSync("e2fsck", ["-fn", p("node2.img")], { encoding: "utf8" }).status).toBe(0);
  });
});
