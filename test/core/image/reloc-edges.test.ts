import { describe, expect, it } from "vitest";
import {
  RELOC_FBSDDISKLABEL,
  RELOC_LILOCKSUM,
  RELOC_LILOMAPSECT,
  RELOC_LILOSADDR,
  RELOC_NONE,
  RELOC_OBSDDISKLABEL,
  RELOC_SHORTSECTOR,
  applyRelocs,
  type Reloc,
} from "../../../core/image/index.js";

/*
 * Relocation edges the original's applyrelocs has: OpenBSD's skipped partitions, partitions that do
 * not fit the slice, LILO addresses with and without a sector count, the end of a LILO list, which
 * relocations are counted as applied or ignored, and each refusal's words.
 */

const S = 512;
const slice = { outputMinSector: 63, outputSectors: 20_000 };
const MAGIC = 0x82564557;

function label(parts: [number, number][], npart = parts.length): Uint8Array {
  const d = new Uint8Array(S);
  const v = new DataView(d.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(132, MAGIC, true);
  v.setUint16(138, npart, true);
  parts.forEach(([size, offset], i) => {
    v.setUint32(148 + i * 16, size, true);
    v.setUint32(148 + i * 16 + 4, offset, true);
  });
  return d;
}
const partOf = (d: Uint8Array, i: number): [number, number] => {
  const v = new DataView(d.buffer);
  return [v.getUint32(148 + i * 16, true), v.getUint32(148 + i * 16 + 4, true)];
};
const labelReloc = (type: number, bytes = 404): Reloc => ({ type, sector: 0, sectorOffset: 0, bytes });

describe("disklabels", () => {
  it("OpenBSD: the raw partition and partitions 8 to 15 are left as they are; FreeBSD moves them all", () => {
    const parts: [number, number][] = Array.from({ length: 16 }, (_, i) => [10, 100 + i * 10]);
    const o = label(parts);
    expect(applyRelocs(o, 0, [labelReloc(RELOC_OBSDDISKLABEL)], slice)).toEqual({ ok: true, length: S, applied: 1, ignored: 0 });
    expect(parts.map((_, i) => partOf(o, i)[1])).toEqual(parts.map(([, off], i) => (i === 2 || i >= 8 ? off : off + 63)));
    const f = label(parts);
    applyRelocs(f, 0, [labelReloc(RELOC_FBSDDISKLABEL)], slice);
    expect(parts.map((_, i) => partOf(f, i)[1])).toEqual(parts.map(([, off]) => off + 63));
  });

  it("skips unused partitions, cuts one that overruns the slice to what is left (or nothing), and keeps one that ends exactly at its end", () => {
    const d = label([[0, 500], [100, 19_900], [5000, 0], [100, 19_963], [50, 30_000]]);
    applyRelocs(d, 0, [labelReloc(RELOC_FBSDDISKLABEL)], slice);
    // slice: sectors 63 to 20,063.
    expect([partOf(d, 0), partOf(d, 1), partOf(d, 2), partOf(d, 3), partOf(d, 4)]).toEqual([[0, 500], [100, 19_963], [20_000, 63], [37, 20_026], [0, 30_063]]);
  });

  it("leaves a label alone at sector 0 (after checking its size), and refuses one too short or with too many partitions", () => {
    const d = label([[10, 5]]);
    expect(applyRelocs(d, 0, [labelReloc(RELOC_FBSDDISKLABEL, 148)], { outputMinSector: 0, outputSectors: 100 })).toEqual({ ok: true, length: S, applied: 1, ignored: 0 });
    expect(partOf(d, 0)).toEqual([10, 5]);
    expect(applyRelocs(d, 0, [labelReloc(RELOC_FBSDDISKLABEL, 147)], { outputMinSector: 0, outputSectors: 100 })).toEqual({ ok: false, error: "relocation 0 (type 1 at image byte 0): a disklabel needs 148 bytes, the relocation covers 147" });
    expect(applyRelocs(label([[10, 5]], 2), 0, [labelReloc(RELOC_OBSDDISKLABEL, 179)], slice)).toEqual({ ok: false, error: "relocation 0 (type 2 at image byte 0): 2 partitions do not fit the 179-byte disklabel" });
    expect(applyRelocs(label([[10, 5]], 2), 0, [labelReloc(RELOC_OBSDDISKLABEL, 180)], slice).ok).toBe(true);
    const half = label([[10, 5]]);
    new DataView(half.buffer).setUint32(132, 0, true);
    expect(applyRelocs(half, 0, [labelReloc(RELOC_FBSDDISKLABEL)], slice)).toEqual({ ok: false, error: "relocation 0 (type 1 at image byte 0): no disklabel at the relocation" });
  });
});

describe("disklabel edges", () => {
  it("needs both magics, moves partition 16 of an OpenBSD label, reads no partition past npart, and checksums exactly the label", () => {
    const front = label([[10, 5]]);
    new DataView(front.buffer).setUint32(0, 0, true);
    expect(applyRelocs(front, 0, [labelReloc(RELOC_FBSDDISKLABEL)], slice)).toEqual({ ok: false, error: "relocation 0 (type 1 at image byte 0): no disklabel at the relocation" });
    const parts: [number, number][] = Array.from({ length: 17 }, (_, i) => [10, 100 + i * 10]);
    const o = label(parts);
    applyRelocs(o, 0, [labelReloc(RELOC_OBSDDISKLABEL, 420)], slice);
    expect(partOf(o, 16)[1]).toBe(260 + 63);
    const d = label([[10, 5], [20, 30]], 1);
    d[148 + 16] = 0x77; // past the label's one partition (its size's low byte is 20 already)
    d[148 + 16 + 1] = 0x66;
    applyRelocs(d, 0, [labelReloc(RELOC_FBSDDISKLABEL)], slice);
    expect(partOf(d, 1)).toEqual([0x6677, 30]);
    const v = new DataView(d.buffer);
    let x = 0;
    for (let p = 0; p < 148 + 16; p += 2) x ^= v.getUint16(p, true);
    expect(x).toBe(0);
  });
});

describe("LILO", () => {
  const addr = (bytes: number[], add: number): number[] => {
    const d = new Uint8Array(S);
    d.set(bytes, 0);
    applyRelocs(d, 0, [{ type: RELOC_LILOSADDR, sector: 0, sectorOffset: 0, bytes: 5 }], { outputMinSector: add, outputSectors: 1 << 30 });
    return Array.from(d.subarray(0, 5));
  };

  it("moves a linear address with a sector count in its last byte, and a 32-bit one without (its top byte there)", () => {
    // 0x40 set: linear with a count; the count byte stays.
    expect(addr([0xff, 0xff, 0xc0, 0x01, 0x07], 1)).toEqual([0x00, 0x00, 0xc0, 0x02, 0x07]);
    // 0x10 without 0x40: the fifth byte is the address's top byte, carried into.
    expect(addr([0xff, 0xff, 0x90, 0xff, 0x01], 1)).toEqual([0x00, 0x00, 0x90, 0x00, 0x02]);
    expect(addr([0x00, 0x00, 0x90, 0x00, 0xff], 0x10)).toEqual([0x10, 0x00, 0x90, 0x00, 0xff]);
  });

  it("carries into the count byte only for an address without a count", () => {
    expect(addr([0xff, 0xff, 0xc0, 0xff, 0x07], 1)).toEqual([0x00, 0x00, 0xc0, 0x00, 0x07]);
    expect(addr([0xff, 0xff, 0xd0, 0xff, 0x07], 1)).toEqual([0x00, 0x00, 0xd0, 0x00, 0x07]);
    expect(addr([0xff, 0xff, 0x90, 0xff, 0x07], 1)).toEqual([0x00, 0x00, 0x90, 0x00, 0x08]);
  });

  it("moves one address for a sector-address relocation, not the list after it", () => {
    const d = new Uint8Array(S);
    d.set([0x01, 0x00, 0xc0, 0x00, 0x01, 0x02, 0x00, 0xc0, 0x00, 0x01], 0);
    applyRelocs(d, 0, [{ type: RELOC_LILOSADDR, sector: 0, sectorOffset: 0, bytes: 5 }], slice);
    expect([d[0], d[5]]).toEqual([64, 2]);
  });

  it("ends a list at a CHS address (no linear flag) and at an empty one", () => {
    expect(addr([0x05, 0x00, 0x80, 0x00, 0x01], 63)).toEqual([0x05, 0x00, 0x80, 0x00, 0x01]);
    expect(addr([0x05, 0x00, 0x20, 0x00, 0x01], 63)).toEqual([0x44, 0x00, 0x20, 0x00, 0x01]);
    const map = new Uint8Array(S);
    for (let k = 0; k < 102; k++) map.set([k, 0, 0xc0, 0, 1], k * 5);
    map.set([9, 0, 0x80, 0, 1], 3 * 5); // CHS: the list ends here
    applyRelocs(map, 0, [{ type: RELOC_LILOMAPSECT, sector: 0, sectorOffset: 0, bytes: S }], slice);
    expect([map[0], map[10], map[15], map[20]]).toEqual([63, 65, 9, 4]);
    // All 102 addresses of a map sector, and not one more.
    const full = new Uint8Array(2 * S);
    for (let k = 0; k < 103; k++) full.set([1, 0, 0xc0, 0, 1], k * 5);
    applyRelocs(full, 0, [{ type: RELOC_LILOMAPSECT, sector: 0, sectorOffset: 0, bytes: S }], slice);
    expect([full[101 * 5], full[102 * 5]]).toEqual([64, 1]);
  });

  it("refuses LILO relocations of the wrong size or place", () => {
    const one = (r: Reloc, data = new Uint8Array(2 * S)) => applyRelocs(data, 0, [r], slice);
    expect(one({ type: RELOC_LILOSADDR, sector: 0, sectorOffset: 0, bytes: 4 })).toEqual({ ok: false, error: "relocation 0 (type 3 at image byte 0): a LILO sector address of 4 bytes" });
    expect(one({ type: RELOC_LILOMAPSECT, sector: 0, sectorOffset: 0, bytes: 511 })).toEqual({ ok: false, error: "relocation 0 (type 4 at image byte 0): a LILO map sector of 511 bytes" });
    expect(one({ type: RELOC_LILOCKSUM, sector: 0, sectorOffset: 989, bytes: 2 })).toEqual({ ok: false, error: "relocation 0 (type 5 at image byte 989): a LILO checksum must be 2 bytes after its descriptor table" });
    expect(one({ type: RELOC_LILOCKSUM, sector: 0, sectorOffset: 990, bytes: 3 })).toEqual({ ok: false, error: "relocation 0 (type 5 at image byte 990): a LILO checksum must be 2 bytes after its descriptor table" });
    expect(one({ type: RELOC_LILOCKSUM, sector: 2, sectorOffset: 490, bytes: 2 }, new Uint8Array(3 * S))).toEqual({ ok: false, error: "relocation 0 (type 5 at image byte 1514): the LILO descriptor table runs past the region" });
    expect(one({ type: RELOC_LILOCKSUM, sector: 2, sectorOffset: 478, bytes: 2 }, new Uint8Array(3 * S)).ok).toBe(true);
  });
});

describe("counting, short sectors and what a write touches", () => {
  it("counts type 0 as applied and unknown types as ignored, and leaves relocations outside the write alone", () => {
    const d = new Uint8Array(2 * S);
    const relocs: Reloc[] = [
      { type: RELOC_NONE, sector: 0, sectorOffset: 0, bytes: 4 },
      { type: 7, sector: 1, sectorOffset: 0, bytes: 4 },
      { type: 99, sector: 1, sectorOffset: 508, bytes: 4 },
      { type: RELOC_LILOSADDR, sector: 2, sectorOffset: 0, bytes: 3 }, // outside: not even checked
      { type: RELOC_LILOSADDR, sector: 0, sectorOffset: 0, bytes: 0 }, // empty: touches nothing
    ];
    expect(applyRelocs(d, 0, relocs, slice)).toEqual({ ok: true, length: 2 * S, applied: 1, ignored: 2 });
    // A relocation that ends where the write starts, or starts where it ends, is not in it.
    expect(applyRelocs(d, S, [{ type: RELOC_LILOSADDR, sector: 0, sectorOffset: 508, bytes: 4 }, { type: RELOC_LILOSADDR, sector: 3, sectorOffset: 0, bytes: 4 }], slice)).toEqual({ ok: true, length: 2 * S, applied: 0, ignored: 0 });
  });

  it("refuses a short sector that is not a region's last, starts mid-sector, or is a whole sector", () => {
    const short = (r: Partial<Reloc>, len = 2 * S) => applyRelocs(new Uint8Array(len), 0, [{ type: RELOC_SHORTSECTOR, sector: 1, sectorOffset: 0, bytes: 100, ...r }], slice);
    const said = "relocation 0 (type 6 at image byte %): a short sector must be the last sector of its region, shorter than 512 bytes";
    expect(short({ sector: 0 })).toEqual({ ok: false, error: said.replace("%", "0") });
    expect(short({ sectorOffset: 1 })).toEqual({ ok: false, error: said.replace("%", "513") });
    expect(short({ bytes: 512 })).toEqual({ ok: false, error: said.replace("%", "512") });
    expect(short({ bytes: 511 })).toEqual({ ok: true, length: 2 * S - 1, applied: 1, ignored: 0 });
    expect(short({ sector: 0, sectorOffset: 512 })).toEqual({ ok: false, error: said.replace("%", "512") });
    // A relocation that starts before the write and ends inside it is cut too.
    expect(applyRelocs(new Uint8Array(S), S, [{ type: RELOC_LILOSADDR, sector: 0, sectorOffset: 510, bytes: 5 }], slice)).toEqual({ ok: false, error: "relocation 0 (type 3, image bytes 510 to 515) is cut by a region boundary" });
  });
});
