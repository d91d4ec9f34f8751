import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { loadDeltaBase, makeDelta } from "../../../real/image/delta.js";
import { nodeEngine } from "../../../real/image/deflater.js";
import { reloadImage, WrongBaseError } from "../../../real/image/reload.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/*
 * The same reload on a block device: a loop device over a file, which needs root. Without it the
 * tests are skipped, visibly; the in-place behaviour itself is covered with --fixed-size files.
 */
const root = typeof process.getuid === "function" && process.getuid() === 0;
const losetup = spawnSync("losetup", ["--version"], { encoding: "utf8" }).error === undefined;
const why = !root ? "needs root for loop devices" : !losetup ? "needs losetup" : "";

const dir = mkdtempSync(join(tmpdir(), "testbed-loop-"));
const attached: string[] = [];
afterAll(() => {
  for (const dev of attached) spawnSync("losetup", ["-d", dev]);
  rmSync(dir, { recursive: true, force: true });
});
const p = (name: string): string => join(dir, name);

function attach(file: string): string {
  const r = spawnSync("losetup", ["-f", "--show", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`losetup: ${r.stderr}`);
  const dev = r.stdout.trim();
  attached.push(dev);
  return dev;
}

function detach(dev: string): void {
  spawnSync("losetup", ["-d", dev]);
  attached.splice(attached.indexOf(dev), 1);
}

describe.skipIf(why !== "")(`reload onto a block device${why === "" ? "" : ` (skipped: ${why})`}`, () => {
  it("lays base then delta onto a loop device, and refuses the wrong base without writing to it", async () => {
    const edited = gunzipSync(readFileSync(emulabFixture("ext2-8mib-edited.img.gz")));
    writeFileSync(p("edited.img"), edited);
    const base = emulabFixture("ext2-8mib.ndz");
    await makeDelta(await loadDeltaBase(base), base, p("edited.img"), p("delta.ndz"), { level: 4, engine: nodeEngine, thresholdPercent: 80, granularityBytes: 4096, fsAware: true });
    writeFileSync(p("disk.img"), Buffer.alloc(8 * 1024 * 1024, 0x5a));
    const dev = attach(p("disk.img"));
    await expect(reloadImage(emulabFixture("disk-4mib.ndz"), p("delta.ndz"), dev, { zeroFill: false })).rejects.toThrow(WrongBaseError);
    detach(dev);
    expect(readFileSync(p("disk.img")).equals(Buffer.alloc(8 * 1024 * 1024, 0x5a))).toBe(true);
    const dev2 = attach(p("disk.img"));
    const r = await reloadImage(base, p("delta.ndz"), dev2, { zeroFill: true });
    detach(dev2);
    expect(r.layers).toBe("base+delta");
    // The file system restored whole: e2fsck finds it clean, and the file written last reads back.
    const fsck = spawnSync("e2fsck", ["-fn", p("disk.img")], { encoding: "utf8" });
    const dumped = spawnSync("debugfs", ["-R", `dump /f3.bin ${p("f3.out")}`, p("disk.img")]);
    if (fsck.error !== undefined || dumped.error !== undefined) return console.warn("SKIPPED the file-system checks: e2fsprogs is not installed");
    expect(fsck.status, fsck.stdout).toBe(0);
    spawnSync("debugfs", ["-R", `dump /f3.bin ${p("f3.want")}`, p("edited.img")]);
    expect(readFileSync(p("f3.out")).equals(readFileSync(p("f3.want")))).toBe(true);
  });
});
