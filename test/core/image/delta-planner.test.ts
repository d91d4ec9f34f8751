import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DeltaPlanner, HASH_TYPE_SHA1, deltaShare, pieceHash, type SigEntry } from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";

/*
 * The delta planner step by step (delta.test.ts checks that a delta laid over its base gives the
 * new disk): each kind of piece counted in its statistics, and where safeWindowEnd puts a window's
 * end around pieces, alignment and the limit.
 */

const S = 512;

/** A disk of `sectors` sectors, sector n filled with the byte n + 1. */
function disk(sectors: number): Uint8Array {
  const d = new Uint8Array(sectors * S);
  for (let n = 0; n < sectors; n++) d.fill(n + 1, n * S, (n + 1) * S);
  return d;
}
/** A signature piece of `data`'s sectors [start, start + count). */
function piece(data: Uint8Array, startSector: number, sectorCount: number): SigEntry {
  return { startSector, sectorCount, chunk: 0, spansChunks: false, hash: pieceHash(nodeHash, HASH_TYPE_SHA1, data.subarray(startSector * S, (startSector + sectorCount) * S)) };
}
const r = (startSector: number, sectorCount: number) => ({ startSector, sectorCount });

describe("DeltaPlanner statistics", () => {
  it("counts each kind of piece: unchanged, changed, partly in use, freed; and sectors new, freed, in use and included", () => {
    const base = disk(64);
    const now = base.slice();
    now[10 * S] = 0xee; // in the second piece
    const entries = [piece(base, 0, 8), piece(base, 8, 8), piece(base, 16, 8), piece(base, 24, 8), piece(base, 100, 8)];
    const p = new DeltaPlanner(entries, HASH_TYPE_SHA1, nodeHash, []);
    expect(p.window(0, now.subarray(0, 48 * S), [r(0, 20), r(40, 4)])).toEqual([r(8, 12), r(40, 4)]);
    expect(p.window(48, now.subarray(48 * S, 64 * S), [r(50, 2)])).toEqual([r(50, 2)]);
    const stats = p.finish();
    expect(stats).toEqual({ hashedPieces: 2, changedPieces: 1, partialPieces: 1, newSectors: 6, freedSectors: 4 + 8, inUseSectors: 26, includedSectors: 18, piecesPastEnd: 1 });
    expect(deltaShare(stats)).toBe(18 / 26);
  });

  it("takes a piece's digest from the caller's digests when given (computed on other threads), else hashes the piece itself", () => {
    const base = disk(32);
    const entries = [piece(base, 0, 8), piece(base, 8, 8), piece(base, 16, 8)];
    const full = (start: number, data: Uint8Array) => createHash("sha1").update(data.subarray(start * S, (start + 8) * S)).digest();
    const inUse = [r(0, 24)];
    // The caller's digests say: piece 0 unchanged, piece 8 changed (whatever its bytes); piece 16 is left to the planner.
    const given = new Map([[0, new Uint8Array(full(0, base))], [8, new Uint8Array(20).fill(1)]]);
    const p = new DeltaPlanner(entries, HASH_TYPE_SHA1, nodeHash, []);
    expect(p.window(0, base, inUse, given)).toEqual([r(8, 8)]);
    expect(p.finish()).toMatchObject({ hashedPieces: 3, changedPieces: 1 });
    const now = base.slice();
    now[17 * S] = 0xee;
    const q = new DeltaPlanner(entries, HASH_TYPE_SHA1, nodeHash, []);
    expect(q.window(0, now, inUse, new Map([[0, new Uint8Array(full(0, base))]]))).toEqual([r(16, 8)]);
  });

  it("compares a piece in a raw area even when it now reads as zeros, and counts it changed, not freed", () => {
    const base = disk(32);
    const now = base.slice();
    now.fill(0, 16 * S, 24 * S);
    const entries = [piece(base, 8, 8), piece(base, 16, 8)];
    const p = new DeltaPlanner(entries, HASH_TYPE_SHA1, nodeHash, [r(0, 32)]);
    expect(p.window(0, now, [r(0, 16)])).toEqual([r(0, 8), r(16, 8)]);
    expect(p.finish()).toEqual({ hashedPieces: 2, changedPieces: 1, partialPieces: 0, newSectors: 8, freedSectors: 0, inUseSectors: 16, includedSectors: 16, piecesPastEnd: 0 });
  });

  it("gives a share of 0 when nothing is in use, never NaN", () => {
    expect(deltaShare({ includedSectors: 0, inUseSectors: 0 })).toBe(0);
    expect(deltaShare({ includedSectors: 5, inUseSectors: 10 })).toBe(0.5);
  });
});

describe("DeltaPlanner.safeWindowEnd", () => {
  const planner = (...pieces: [number, number][]): DeltaPlanner =>
    new DeltaPlanner(pieces.map(([s, n]) => ({ startSector: s, sectorCount: n, chunk: 0, spansChunks: false, hash: new Uint8Array(20) })), HASH_TYPE_SHA1, nodeHash, []);

  it("leaves an end that no piece crosses, a piece starting there included", () => {
    expect(planner([100, 8]).safeWindowEnd(50, 1, 1000)).toBe(50);
    expect(planner([100, 8]).safeWindowEnd(100, 1, 1000)).toBe(100);
    expect(planner([40, 10]).safeWindowEnd(50, 1, 1000)).toBe(50);
  });

  it("moves an end inside a piece to the piece's end, then to the alignment, checking pieces again there", () => {
    expect(planner([45, 10]).safeWindowEnd(50, 1, 1000)).toBe(55);
    expect(planner([45, 10]).safeWindowEnd(50, 8, 1000)).toBe(56);
    expect(planner([60, 10]).safeWindowEnd(50, 16, 1000)).toBe(80);
    expect(planner([60, 10], [75, 10]).safeWindowEnd(50, 16, 1000)).toBe(96);
  });

  it("stops at the limit, unless a piece crosses it: then at the piece's end", () => {
    expect(planner([100, 8]).safeWindowEnd(50, 16, 60)).toBe(60);
    expect(planner([60, 10]).safeWindowEnd(62, 16, 64)).toBe(70);
  });

  it("refuses a window that starts inside a piece", () => {
    const p = planner([0, 8]);
    expect(() => p.window(4, new Uint8Array(8 * S), [])).toThrow("DeltaPlanner: piece [0, +8) crosses the window [4, 12)");
  });
});
