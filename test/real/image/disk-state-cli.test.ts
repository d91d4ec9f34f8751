import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it, vi } from "vitest";
import { diskLayout } from "../../../core/image/index.js";
import { emulabFixture } from "../../fixtures/emulab.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const dir = mkdtempSync(join(tmpdir(), "testbed-disk-state-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);

const BASE = emulabFixture("ext2-8mib.ndz");
const ext2 = gunzipSync(readFileSync(emulabFixture("ext2-8mib.img.gz")));
const edited = gunzipSync(readFileSync(emulabFixture("ext2-8mib-edited.img.gz")));
writeFileSync(p("edited.img"), edited);

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 300_000 });
}

function expectOneLineError(r: { code: number | null; stderr: string }, code: number, pattern: RegExp) {
  expect(r.code).toBe(code);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** The blocks in use of an ext2 image, and whether two images agree on all of them. */
function sameFileSystem(a: Uint8Array, b: Uint8Array): boolean {
  const used = diskLayout({ sizeBytes: b.length, read: (o, l) => b.subarray(o, o + l) }).fsInUse;
  return used.every((r) => Buffer.from(a.subarray(r.startSector * 512, (r.startSector + r.sectorCount) * 512)).equals(Buffer.from(b.subarray(r.startSector * 512, (r.startSector + r.sectorCount) * 512))));
}

describe("testbed image sig, delta and unzip BASE DELTA TARGET", () => {
  it("make a signature, a delta against it, and lay base then delta", async () => {
    const s = await testbed("image", "sig", BASE, "-o", "base.sig", "--json");
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ signature: "base.sig", pieces: 45, dataBytes: 5590 * 512 });
    const d = await testbed("image", "delta", "--base", "base.sig", "edited.img", "delta.ndz");
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^edited\.img: the disk: ext2, 1 KiB blocks, 2305 of 8192 in use\ndelta\.ndz: delta of \d+\.\d% of a full image; /);
    const u = await testbed("image", "unzip", BASE, "delta.ndz", "restored.img");
    expect(u.code).toBe(0);
    expect(u.stdout).toMatch(/restored\.img: .*ext2-8mib\.ndz \+ delta\.ndz: 3 chunks/);
    expect(sameFileSystem(readFileSync(p("restored.img")), edited)).toBe(true);
  });

  it("says so when it writes a full image instead of a delta", async () => {
    const d = await testbed("image", "delta", "--base", "base.sig", "edited.img", "full.ndz", "--threshold-pct", "5");
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/full\.ndz: FULL IMAGE instead of a delta: the delta would be over 5% of a full image/);
  });

  it("refuses a delta on the wrong base in one line, exit 2, with no target written", async () => {
    expectOneLineError(await testbed("image", "unzip", emulabFixture("disk-4mib.ndz"), "delta.ndz", "wrong.img"), 2, /^testbed: delta\.ndz: chunk 0 at image byte 328: was made against image [0-9a-f]{32}, but .*disk-4mib\.ndz is image [0-9a-f]{32}: wrong base; nothing written$/);
    expect(existsSync(p("wrong.img"))).toBe(false);
  });

  it("refuses a delta with a damaged chunk, leaving a target written in place untouched", async () => {
    const bad = Buffer.from(readFileSync(p("delta.ndz")));
    bad[4096 + 1234]! ^= 2;
    writeFileSync(p("bad.ndz"), bad);
    writeFileSync(p("inplace.img"), ext2);
    expectOneLineError(await testbed("image", "unzip", BASE, "bad.ndz", "inplace.img", "--fixed-size"), 2, /^testbed: bad\.ndz: chunk 0 at image byte 72: SHA-1 checksum mismatch/);
    expect(readFileSync(p("inplace.img")).equals(ext2)).toBe(true);
  });

  it("refuses a truncated or corrupt signature, naming the byte", async () => {
    writeFileSync(p("cut.sig"), readFileSync(p("base.sig")).subarray(0, 100));
    expectOneLineError(await testbed("image", "delta", "--base", "cut.sig", "edited.img", "x.ndz"), 2, /^testbed: cut\.sig: byte 100: truncated: the header lists 45 entries/);
    expect(existsSync(p("x.ndz"))).toBe(false);
  });

  it("refuses bad flags and argument counts in one line", async () => {
    expectOneLineError(await testbed("image", "unzip", BASE), 2, /^testbed: unzip: expected BASE \[DELTA\] TARGET, got 1 argument$/);
    expectOneLineError(await testbed("image", "delta", "--base", "base.sig", "edited.img", "y.ndz", "--threshold-pct", "101"), 2, /--threshold-pct: expected a whole number from 0 to 100/);
    expectOneLineError(await testbed("image", "unzip", BASE, "z.img", "--key", "nokey"), 2, /^testbed: --key nokey: cannot read the key file \(no such file\)$/);
  });
});

describe("testbed swapin-node, swapout-node and image gc", () => {
  const db = p("store.db");
  const node = (...args: string[]) => testbed(...args, "--db", db, "--dir", p("state"));

  it("load a node, save its delta, restore it, and collect what no node holds any more", async () => {
    const load = await node("swapin-node", "--node", "pc1", "--target", "pc1.img", "--image", BASE, "--json");
    expect(load.code).toBe(0);
    expect(JSON.parse(load.stdout)).toMatchObject({ node: "pc1", partition: 1, delta: null, reload: { layers: "base" } });
    writeFileSync(p("pc1.img"), edited); // what the user did during the experiment
    const save = await node("swapout-node", "--node", "pc1", "--disk", "pc1.img", "--json");
    expect(save.code).toBe(0);
    const saved = JSON.parse(save.stdout) as { kind: string; delta: string };
    expect(saved.kind).toBe("delta");
    rmSync(p("pc1.img"));
    const back = await node("swapin-node", "--node", "pc1", "--target", "pc1.img", "--json");
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ delta: saved.delta, reload: { layers: "base+delta" } });
    expect(sameFileSystem(readFileSync(p("pc1.img")), edited)).toBe(true);
    // As a node does at swap-in once Frisbee has written its base: the delta alone goes over it, in place.
    rmSync(p("pc1.img"));
    expect((await testbed("image", "unzip", BASE, "pc1.img")).code).toBe(0);
    const over = await node("swapin-node", "--node", "pc1", "--target", "pc1.img", "--loaded", BASE, "--json");
    expect(over.code, over.stderr).toBe(0);
    const laid = JSON.parse(over.stdout) as { delta: string; reload: { layers: string; dataBytes: number } };
    expect(laid).toMatchObject({ delta: saved.delta, reload: { layers: "delta" } });
    // The writes counted: the base's data once (the load) plus the delta's, where base+delta wrote the base again.
    const written = (r: { stdout: string }) => (JSON.parse(r.stdout) as { reload: { dataBytes: number } }).reload.dataBytes;
    expect(laid.reload.dataBytes).toBe((JSON.parse(save.stdout) as { dataBytes: number }).dataBytes);
    expect(written(load) + laid.reload.dataBytes).toBe(written(back));
    expect(sameFileSystem(readFileSync(p("pc1.img")), edited)).toBe(true);
    // Over another image, or with flags that contradict it: refused in one line, the disk as it was.
    const before = readFileSync(p("pc1.img"));
    expectOneLineError(await node("swapin-node", "--node", "pc1", "--target", "pc1.img", "--loaded", emulabFixture("disk-4mib.ndz")), 2, /disk-4mib\.ndz: is not the image the store holds for pc1 partition 1 \(.*ext2-8mib\.ndz\); nothing written$/);
    expectOneLineError(await node("swapin-node", "--node", "pc1", "--target", "pc1.img", "--loaded", BASE, "--image", BASE), 2, /--image loads a fresh image and --loaded says one is on the target already: give one$/);
    expectOneLineError(await node("swapin-node", "--node", "pc1", "--target", "pc1.img", "--loaded", BASE, "--zero-fill"), 2, /^testbed: --loaded lays the delta alone: the zeros over free space come with the image's load \(frisbee --zero-fill\)$/);
    expect(readFileSync(p("pc1.img")).equals(before)).toBe(true);
    const gc0 = await testbed("image", "gc", "--dry-run", "--db", db, "--json");
    expect(JSON.parse(gc0.stdout)).toMatchObject({ signatures: [], deltas: [] });
    // A fresh load drops the delta: nothing holds it any more, and it goes; the signature stays.
    expect((await node("swapin-node", "--node", "pc1", "--target", "pc1.img", "--image", BASE)).code).toBe(0);
    const dry = await testbed("image", "gc", "--dry-run", "--db", db);
    expect(dry.stdout).toMatch(/would remove delta .*pc1\.p1\.[0-9a-f]+\.ndz/);
    expect(existsSync(saved.delta)).toBe(true);
    const gc = await testbed("image", "gc", "--db", db, "--json");
    expect(JSON.parse(gc.stdout)).toMatchObject({ dryRun: false, signatures: [], deltas: [{ path: saved.delta }] });
    expect(existsSync(saved.delta)).toBe(false);
  });

  it("refuse to save a node the store knows nothing of", async () => {
    expectOneLineError(await node("swapout-node", "--node", "ghost", "--disk", "edited.img"), 2, /^testbed: ghost partition 1: the store holds no image for it/);
  });
});

describe("testbed bench delta", () => {
  it("on a small disk: every delta, applied, reproduces the disk", async () => {
    const r = await testbed("bench", "delta", "--size-mib", "8", "--rewrite-mib", "1", "--no-baselines", "--json", "--dir", dir);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { cases: { name: string; changedBytes: number; ours: { reproduced: boolean; dataBytes: number; writtenBytes: number; bytes: number; kind: string } }[]; signature: { mibPerSec: number } };
    expect(out.cases.map((c) => c.name)).toEqual(["blocks", "rewrite", "none"]);
    for (const c of out.cases) expect(c.ours.reproduced).toBe(true);
    expect(out.cases[0]!.changedBytes).toBe(Math.round(128 * 0.05) * 65536);
    // No change: the empty delta, one 344-byte chunk header (core/image/delta-format.ts).
    expect(out.cases[2]!.ours).toMatchObject({ kind: "delta", dataBytes: 0, writtenBytes: 344, bytes: 344 });
    expect(out.signature.mibPerSec).toBeGreaterThan(0);
  });
});

describe("testbed plan swap", () => {
  it("answers in JSON, writes its chart, and names the bottleneck", async () => {
    const r = await testbed("plan", "swap", "--nodes", "5,50", "--delta-pct", "5", "--disk-gib", "1", "--json", "--svg", "swap.svg");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { nodes: number; swapOutSec: number; swapInSec: number; swapOutBottleneck: string }[] };
    expect(out.results.map((x) => x.nodes)).toEqual([5, 50]);
    expect(out.results[1]!.swapOutSec).toBeGreaterThan(out.results[0]!.swapOutSec);
    expect(readFileSync(p("swap.svg"), "utf8")).toMatch(/^<svg .*swap-out, 5%/s);
    const t = await testbed("plan", "swap", "--nodes", "20", "--delta-pct", "5", "--disk-gib", "1", "--svg", "swap.svg");
    expect(t.stdout).toMatch(/nodes\s+delta %\s+deltas MiB\s+swap-out s\s+bottleneck/);
  });

  it("refuses a bad flag in one line", async () => {
    expectOneLineError(await testbed("plan", "swap", "--nodes", "10", "--delta-pct", "120"), 2, /^testbed: --delta-pct: expected a number from 0 up to 100, got "120"$/);
  });
});
