import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DeltaPlanner,
  HASH_TYPE_SHA1,
  SignatureBuilder,
  allocatedRanges,
  clip,
  deltaShare,
  normalize,
  type Region,
  type SigEntry,
} from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";

const S = 512;
const BLOCK_SECTORS = 8;
/** Small hash pieces (8 KiB) so that small disks have many of them. */
const PIECE_SECTORS = 16;

/** A base image's signature: its regions cut into chunks at `cuts`, hashed region by region. */
function signatureOf(disk: Uint8Array, regions: readonly Region[], cuts: readonly number[]): SigEntry[] {
  const b = new SignatureBuilder(nodeHash, HASH_TYPE_SHA1, "absolute", PIECE_SECTORS);
  for (const r of regions) {
    let at = r.startSector;
    const end = r.startSector + r.sectorCount;
    for (const cut of [...cuts.filter((c) => c > at && c < end), end]) {
      b.region(cuts.filter((c) => c <= at).length, at, disk.subarray(at * S, cut * S));
      at = cut;
    }
  }
  return b.entries;
}

/** Plans the delta of `disk` window by window (windows of the given sizes, cycled). */
function plan(entries: SigEntry[], disk: Uint8Array, inUse: Region[], rawAreas: Region[], windows: number[]): { include: Region[]; share: number } {
  const planner = new DeltaPlanner(entries, HASH_TYPE_SHA1, nodeHash, rawAreas);
  const sectors = disk.length / S;
  const include: Region[] = [];
  let at = 0;
  for (let k = 0; at < sectors; k++) {
    const end = planner.safeWindowEnd(Math.min(sectors, at + windows[k % windows.length]! * BLOCK_SECTORS), BLOCK_SECTORS, sectors);
    include.push(...planner.window(at, disk.subarray(at * S, end * S), clip(inUse, at, end)));
    at = end;
  }
  const stats = planner.finish();
  expect(stats.piecesPastEnd).toBe(0);
  return { include: normalize(include), share: deltaShare(stats) };
}

function lay(target: Uint8Array, source: Uint8Array, ranges: readonly Region[]): void {
  for (const r of ranges) target.set(source.subarray(r.startSector * S, (r.startSector + r.sectorCount) * S), r.startSector * S);
}

/** Disks of 4 KiB blocks: zero, a byte pattern, or random. */
const blockKind = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 255 }), fc.constant(-1));
function buildDisk(kinds: number[], rng: () => number): Uint8Array {
  const d = new Uint8Array(kinds.length * BLOCK_SECTORS * S);
  kinds.forEach((k, i) => {
    const block = d.subarray(i * 4096, (i + 1) * 4096);
    if (k > 0) block.fill(k);
    else if (k < 0) for (let j = 0; j < block.length; j++) block[j] = (rng() * 256) | 0;
  });
  return d;
}

/** Edits at sector granularity: zeroed, filled, or copied from elsewhere on the disk. */
const edit = fc.record({ start: fc.nat(), length: fc.integer({ min: 1, max: 70 }), kind: fc.oneof(fc.constant(0), fc.constant(-1), fc.integer({ min: 1, max: 255 })), from: fc.nat() });
function applyEdits(base: Uint8Array, edits: { start: number; length: number; kind: number; from: number }[]): Uint8Array {
  const d = base.slice();
  const sectors = d.length / S;
  for (const e of edits) {
    const start = e.start % sectors;
    const end = Math.min(sectors, start + e.length);
    if (e.kind >= 0) d.fill(e.kind, start * S, end * S);
    else d.copyWithin(start * S, (e.from % sectors) * S, ((e.from % sectors) + end - start) * S);
  }
  return d;
}

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

describe("a cumulative delta, in raw mode (free space reads as zeros)", () => {
  it("laid over its base reproduces the new disk byte for byte", () => {
    fc.assert(
      fc.property(
        fc.array(blockKind, { minLength: 1, maxLength: 48 }), fc.nat(), fc.array(edit, { maxLength: 8 }), fc.array(fc.nat(400), { maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }),
        (kinds, seed, edits, cuts, windows) => {
          const base = buildDisk(kinds, seeded(seed));
          const baseRegions = allocatedRanges(base, 0, 4096);
          const entries = signatureOf(base, baseRegions, [...new Set(cuts)].sort((a, b) => a - b));
          const next = applyEdits(base, edits);
          const whole = [{ startSector: 0, sectorCount: next.length / S }];
          const { include } = plan(entries, next, allocatedRanges(next, 0, 4096), whole, windows);
          const target = new Uint8Array(next.length);
          lay(target, base, baseRegions);
          lay(target, next, include);
          expect(Buffer.from(target).equals(Buffer.from(next))).toBe(true);
        },
      ),
      { numRuns: 250 },
    );
  });

  it("is empty when nothing changed, and holds only the changed pieces otherwise", () => {
    const base = buildDisk([-1, -1, 0, 7, -1, -1, -1, -1], seeded(3));
    const regions = allocatedRanges(base, 0, 4096);
    const entries = signatureOf(base, regions, []);
    const whole = [{ startSector: 0, sectorCount: base.length / S }];
    expect(plan(entries, base, regions, whole, [3]).include).toEqual([]);
    const next = base.slice();
    next[40 * S + 3]! ^= 1; // one byte of the piece at sectors [32, 48)
    expect(plan(entries, next, regions, whole, [3]).include).toEqual([{ startSector: 32, sectorCount: 16 }]);
    next.fill(0, 24 * S, 32 * S); // block 3 becomes free: it must come back as zeros
    expect(plan(entries, next, allocatedRanges(next, 0, 4096), whole, [5]).include).toEqual([{ startSector: 24, sectorCount: 24 }]);
  });
});

describe("a cumulative delta, in file-system areas (the bitmaps say what is in use)", () => {
  const blockSet = fc.array(fc.boolean(), { minLength: 4, maxLength: 40 });
  const toRanges = (used: boolean[]): Region[] => normalize(used.flatMap((u, i) => (u ? [{ startSector: i * BLOCK_SECTORS, sectorCount: BLOCK_SECTORS }] : [])));

  it("reproduces every block in use on the new disk, and leaves freed blocks out", () => {
    fc.assert(
      fc.property(blockSet, fc.array(fc.boolean(), { maxLength: 40 }), fc.nat(), fc.array(edit, { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }), fc.nat(60),
        (usedBase, flips, seed, edits, windows, rawFrom) => {
          const rng = seeded(seed);
          const base = buildDisk(usedBase.map(() => -1), rng);
          const baseInUse = toRanges(usedBase);
          const entries = signatureOf(base, baseInUse, []);
          const usedNew = usedBase.map((u, i) => (flips[i] ? !u : u));
          const next = applyEdits(base, edits);
          const newInUse = toRanges(usedNew);
          const sectors = base.length / S;
          // raw areas at the end of the disk, if any: free there means zeros
          const rawStart = Math.min(sectors, rawFrom * BLOCK_SECTORS);
          const raw = rawStart < sectors ? [{ startSector: rawStart, sectorCount: sectors - rawStart }] : [];
          const inUse = normalize([...clip(newInUse, 0, rawStart), ...allocatedRanges(next.subarray(rawStart * S), rawStart * S, 4096)]);
          const { include } = plan(entries, next, inUse, raw, windows);
          const target = buildDisk(usedBase.map(() => -1), seeded(seed + 1)); // whatever the node held before
          lay(target, base, baseInUse);
          lay(target, next, include);
          for (const r of inUse) expect(Buffer.from(target.subarray(r.startSector * S, (r.startSector + r.sectorCount) * S)).equals(Buffer.from(next.subarray(r.startSector * S, (r.startSector + r.sectorCount) * S)))).toBe(true);
          const freedOnly = normalize(clip(baseInUse, 0, rawStart).filter((r) => !newInUse.some((n) => n.startSector < r.startSector + r.sectorCount && r.startSector < n.startSector + n.sectorCount)));
          for (const r of freedOnly) expect(include.some((i) => i.startSector < r.startSector + r.sectorCount && r.startSector < i.startSector + i.sectorCount)).toBe(false);
        },
      ),
      { numRuns: 250 },
    );
  });

  it("counts a delta of everything as a share of 1, so the caller makes a full image instead", () => {
    const base = buildDisk([-1, -1, -1, -1], seeded(9));
    const regions = [{ startSector: 0, sectorCount: 32 }];
    const entries = signatureOf(base, regions, []);
    const next = buildDisk([-1, -1, -1, -1], seeded(10));
    expect(plan(entries, next, regions, [], [2]).share).toBe(1);
  });
});

describe("DeltaPlanner windows", () => {
  it("never end inside a piece, and refuse a window that would cut one", () => {
    const entries = [{ startSector: 10, sectorCount: 20, chunk: 0, spansChunks: false, hash: new Uint8Array(20) }];
    const p = new DeltaPlanner(entries, HASH_TYPE_SHA1, nodeHash, []);
    expect(p.safeWindowEnd(16, 8, 100)).toBe(32);
    expect(() => p.window(0, new Uint8Array(16 * S), [])).toThrow(/crosses the window/);
  });
});
