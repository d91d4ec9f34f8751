import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it, vi } from "vitest";
import { EMULAB_FIXTURES as FIXTURES } from "../../fixtures/emulab.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const dir = mkdtempSync(join(tmpdir(), "testbed-image-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const raw = gunzipSync(readFileSync(join(FIXTURES, "disk-4mib.raw.gz")));
writeFileSync(join(dir, "disk.raw"), raw);

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 120_000 });
}

function expectOneLineError(r: { code: number | null; stderr: string }, code: number, pattern: RegExp) {
  expect(r.code).toBe(code);
  expect(r.stderr.trimEnd().split("\n")[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("testbed image info", () => {
  it("prints what imagedump -d -d printed for the original image, but the mean regions per chunk", async () => {
    const r = await testbed("image", "info", join(FIXTURES, "disk-4mib.ndz"), "-d", "-d");
    expect(r.code).toBe(0);
    const dump = readFileSync(join(FIXTURES, "disk-4mib.ndz.dump-detail.txt"), "utf8").split("\n");
    const ours = r.stdout.split("\n");
    expect(ours[0]).toBe(`${join(FIXTURES, "disk-4mib.ndz")}: 2097152 bytes, 2 chunks, version 3`);
    // imagedump divides 2 regions by 3 ("0.7"): it counts one chunk too many
    expect(dump[7]).toBe("  2 total regions: 0.7/1/1 ave/min/max per chunk");
    expect(ours[7]).toBe("  2 total regions: 1.0/1/1 ave/min/max per chunk");
    expect(ours.filter((_, i) => i !== 0 && i !== 7)).toEqual(dump.filter((_, i) => i !== 0 && i !== 7));
  });

  it("prints the summary imagedump prints without -d, for both levels", async () => {
    for (const name of ["disk-4mib.ndz", "disk-4mib-z9.ndz"]) {
      const r = await testbed("image", "info", join(FIXTURES, name));
      const dump = readFileSync(join(FIXTURES, `${name}.dump.txt`), "utf8").split("\n");
      expect(r.stdout.split("\n").slice(1).filter((l) => !l.includes("total regions"))).toEqual(dump.slice(1).filter((l) => !l.includes("total regions")));
    }
  });

  it("prints the same figures as JSON", async () => {
    const r = await testbed("image", "info", join(FIXTURES, "disk-4mib.ndz"), "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      imageBytes: 2097152, chunks: 2, version: 3, overheadBytes: 516463, compressedBytes: 1580689, regions: 2,
      firstSector: 0, lastSector: 8192, allocatedBytes: 4194304, diskBytes: 4194304,
      allocatedRanges: { count: 2, aveBytes: 2097152, minBytes: 1582592, maxBytes: 2611712 },
      sizeDistribution: [{ label: ">= 256k", count: 2, percent: 100 }],
    });
  });

  it("names a corrupt header in one line and exits 2 (a bad image is bad input)", async () => {
    const bad = Buffer.from(readFileSync(join(FIXTURES, "disk-4mib.ndz")));
    bad.writeUInt32LE(9, 1024 * 1024 + 8);
    writeFileSync(join(dir, "bad.ndz"), bad);
    expectOneLineError(await testbed("image", "info", "bad.ndz"), 2, /^testbed: bad\.ndz: chunk 1 at image byte 1048584: header says chunk 9$/);
  });
});

describe("testbed image create and unzip", () => {
  it("round-trip a disk and report in JSON", async () => {
    const c = await testbed("image", "create", "disk.raw", "disk.ndz", "-z", "6", "--json");
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ inputBytes: 4194304, allocatedBytes: 11 * 262144, level: 6, granularityBytes: 4096, engine: "node" });
    const u = await testbed("image", "unzip", "disk.ndz", "restored.raw", "--json");
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ chunks: 2, dataBytes: 11 * 262144, diskBytes: 4194304 });
    expect(readFileSync(join(dir, "restored.raw")).equals(raw)).toBe(true);
  });

  it("refuses bad flags with one line and exit 2", async () => {
    expectOneLineError(await testbed("image", "create", "disk.raw", "x.ndz", "-z", "10"), 2, /^testbed: --level: expected a whole number from 0 to 9, got "10"$/);
    expectOneLineError(await testbed("image", "create", "disk.raw", "x.ndz", "--granularity", "1024"), 2, /^testbed: --granularity: expected 512 or 4096/);
  });

  it("reports a missing source and a corrupt image in one line with exit 2, leaving no output", async () => {
    expectOneLineError(await testbed("image", "create", "missing.raw", "x.ndz"), 2, /^testbed: missing\.raw: no such file or device$/);
    const bad = Buffer.from(readFileSync(join(FIXTURES, "disk-4mib.ndz")));
    bad[4096 + 300_000]! ^= 0xff;
    writeFileSync(join(dir, "corrupt.ndz"), bad);
    expectOneLineError(await testbed("image", "unzip", "corrupt.ndz", "out.raw"), 2, /^testbed: corrupt\.ndz: chunk 0 at image byte \d+: zlib: /);
    expect(existsSync(join(dir, "x.ndz"))).toBe(false);
    expect(existsSync(join(dir, "out.raw"))).toBe(false);
  });

  it("shows an example in each command's help", async () => {
    for (const args of [["image", "create", "--help"], ["image", "info", "--help"], ["image", "unzip", "--help"], ["bench", "image", "--help"]]) {
      const r = await testbed(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Example:\n\s+testbed /);
    }
  });
});

describe("testbed bench image", () => {
  it("prints create, unzip and plain inflate figures for a small disk-like file", async () => {
    const r = await testbed("bench", "image", "--size-mib", "8", "--json", "--dir", dir);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of ["createMiBs", "createOneJobMiBs", "unzipMiBs", "plainInflateWriteMiBs"]) expect(out[key]).toBeGreaterThan(0);
    expect(out).toMatchObject({ sizeMiB: 8, seed: 1, level: 4, jobs: 2, restoredIdentical: true });
  });
});
