import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { endpoint, IMAGE, killChildren, LO, RAW, sameBytes, tempDir, testbed, until } from "./support.js";
import { multicastSkipReason } from "../../support/probes.js";

/**
 * Block devices, on loop devices. Needs root (losetup); without it the suite is skipped with its
 * reason, and the same code path (positioned writes to a target of fixed size, the size check before
 * any write) is covered on plain files with --fixed-size in cli.test.ts.
 */
const temp = tempDir("testbed-blockdev-");
afterAll(temp.cleanup);
afterEach(killChildren);

function loopReason(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  const r = spawnSync("losetup", ["--version"], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) return "losetup is not available";
  const probe = spawnSync("losetup", ["-f"], { encoding: "utf8" });
  if (probe.status !== 0) return `no free loop device: ${probe.stderr.trim()}`;
  return null;
}

const reason = loopReason() ?? (await multicastSkipReason());
const attached: string[] = [];
afterAll(() => {
  for (const dev of attached) spawnSync("losetup", ["-d", dev]);
});

function loopDevice(name: string, bytes: number, fill: number): string {
  const backing = join(temp.dir, name);
  writeFileSync(backing, new Uint8Array(bytes).fill(fill));
  const r = spawnSync("losetup", ["-f", "--show", backing], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`losetup failed: ${r.stderr}`);
  const dev = r.stdout.trim();
  attached.push(dev);
  return dev;
}

describe.skipIf(reason !== null)(`frisbee onto loop devices${reason === null ? "" : ` (skipped: ${reason})`}`, () => {
  it("writes the image onto a block device and refuses one too small before writing", async () => {
    const { port, group } = endpoint();
    const s = testbed(["frisbeed", "--image", IMAGE, "-m", group, "-p", String(port), "-i", LO, "--bandwidth", "100Mbit", "--idle-exit", "120"], temp.dir);
    await until(() => s.stderr().includes("frisbee.serving"), "frisbeed to start", s);
    const big = loopDevice("big.raw", 6 * 2 ** 20, 0xee);
    const c = testbed(["frisbee", "-m", group, "-p", String(port), "-i", LO, big], temp.dir);
    expect(await c.exited, c.stderr()).toBe(0);
    const written = readFileSync(big);
    expect(sameBytes(written.subarray(0, RAW.byteLength), RAW)).toBe(true);
    expect(written.subarray(RAW.byteLength).every((b) => b === 0xee)).toBe(true);

    const small = loopDevice("small.raw", 2 * 2 ** 20, 0xdd);
    const refused = testbed(["frisbee", "-m", group, "-p", String(port), "-i", LO, small], temp.dir);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr()).toMatch(/holds 2097152 bytes but the image needs 4194304; nothing was written/);
    expect(readFileSync(small).every((b) => b === 0xdd)).toBe(true);
    s.child.kill("SIGTERM");
    await s.exited;
  });
});

if (reason !== null) console.warn(`test/real/frisbee/blockdev.test.ts: loop device tests skipped: ${reason}`);
