import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  RELOC_FBSDDISKLABEL,
  RELOC_LILOCKSUM,
  RELOC_LILOMAPSECT,
  RELOC_LILOSADDR,
  RELOC_SHORTSECTOR,
  applyRelocs,
  type Reloc,
} from "../../../core/image/index.js";

const S = 512;
const at0 = { outputMinSector: 0, outputSectors: 100_000 };
const slice = { outputMinSector: 63, outputSectors: 20_000 };

describe("LILO relocations", () => {
  it("add the slice's offset to linear sector addresses, and stop at an empty one", () => {
    const data = new Uint8Array(S);
    data.set([0x10, 0x02, 0xc0, 0x00, 0x01], 0); // linear (0x40) hard disk: sector 0x000210
    const r: Reloc = { type: RELOC_LILOSADDR, sector: 4, sectorOffset: 0, bytes: 5 };
    expect(applyRelocs(data, 4 * S, [r], slice)).toMatchObject({ ok: true, length: S, applied: 1 });
    expect(Array.from(data.subarray(0, 5))).toEqual([0x4f, 0x02, 0xc0, 0x00, 0x01]);
    const map = new Uint8Array(S);
    map.set([0x01, 0x00, 0xc0, 0x00, 0x01, 0x02, 0x00, 0xc0, 0x00, 0x01], 0);
    map.set([0x09, 0x00, 0xc0, 0x00, 0x01], 15); // after an empty address: untouched
    applyRelocs(map, 0, [{ type: RELOC_LILOMAPSECT, sector: 0, sectorOffset: 0, bytes: S }], slice);
    expect([map[0], map[5], map[15]]).toEqual([0x40, 0x41, 0x09]);
  });

  it("leave addresses alone when the image goes to sector 0", () => {
    const data = new Uint8Array(S);
    data.set([0x10, 0x02, 0xc0, 0x00, 0x01], 0);
    applyRelocs(data, 0, [{ type: RELOC_LILOSADDR, sector: 0, sectorOffset: 0, bytes: 5 }], at0);
    expect(data[0]).toBe(0x10);
  });

  it("recompute the descriptor table's checksum so that the whole table XORs to 0xabcd", () => {
    const data = new Uint8Array(2 * S);
    for (let i = 2; i < 1024; i++) data[i] = (i * 7) & 0xff;
    const r = applyRelocs(data, 0, [{ type: RELOC_LILOCKSUM, sector: 0, sectorOffset: 990, bytes: 2 }], at0);
    expect(r.ok).toBe(true);
    const v = new DataView(data.buffer);
    let x = 0;
    for (let p = 0; p < 1024; p += 2) x ^= v.getUint16(p, true);
    expect(x).toBe(0xabcd);
  });
});

describe("BSD disklabel relocations", () => {
  function label(): Uint8Array {
    const d = new Uint8Array(S);
    const v = new DataView(d.buffer);
    v.setUint32(0, 0x82564557, true);
    v.setUint32(132, 0x82564557, true);
    v.setUint16(138, 3, true);
    const part = (i: number, size: number, offset: number): void => {
      v.setUint32(148 + i * 16, size, true);
      v.setUint32(148 + i * 16 + 4, offset, true);
    };
    part(0, 1000, 16);
    part(1, 50_000, 1016);
    part(2, 19_000, 0);
    return d;
  }

  it("make partitions absolute, fit them to the slice, grow the raw partition and redo the checksum", () => {
    const d = label();
    expect(applyRelocs(d, S, [{ type: RELOC_FBSDDISKLABEL, sector: 1, sectorOffset: 0, bytes: 276 }], slice)).toMatchObject({ ok: true, applied: 1 });
    const v = new DataView(d.buffer);
    expect([v.getUint32(148 + 4, true), v.getUint32(148, true)]).toEqual([79, 1000]);
    expect([v.getUint32(164 + 4, true), v.getUint32(164, true)]).toEqual([1079, 20_063 - 1079]);
    expect([v.getUint32(180 + 4, true), v.getUint32(180, true)]).toEqual([63, 20_000]);
    let x = 0;
    for (let p = 0; p < 148 + 3 * 16; p += 2) x ^= v.getUint16(p, true);
    expect(x).toBe(0);
  });

  it("refuse a relocation that points at no disklabel, naming it", () => {
    const r = applyRelocs(new Uint8Array(S), 0, [{ type: RELOC_FBSDDISKLABEL, sector: 0, sectorOffset: 0, bytes: 276 }], slice);
    expect(r).toEqual({ ok: false, error: "relocation 0 (type 1 at image byte 0): no disklabel at the relocation" });
  });
});

describe("short sectors and region boundaries", () => {
  it("cut a short last sector to its size", () => {
    expect(applyRelocs(new Uint8Array(3 * S), 0, [{ type: RELOC_SHORTSECTOR, sector: 2, sectorOffset: 0, bytes: 100 }], at0)).toMatchObject({ ok: true, length: 2 * S + 100 });
  });

  it("refuse a relocation cut by a region boundary", () => {
    const r = applyRelocs(new Uint8Array(S), S, [{ type: RELOC_LILOCKSUM, sector: 1, sectorOffset: 511, bytes: 2 }], at0);
    expect(r).toEqual({ ok: false, error: "relocation 0 (type 5, image bytes 1023 to 1025) is cut by a region boundary" });
  });

  it("never throw on random relocations over random data", () => {
    const reloc = fc.record({ type: fc.nat(8), sector: fc.nat(8), sectorOffset: fc.nat(1100), bytes: fc.nat(600) });
    fc.assert(fc.property(fc.uint8Array({ minLength: S, maxLength: 4 * S }), fc.array(reloc, { maxLength: 4 }), fc.nat(4), (data, relocs, first) => {
      const d = data.subarray(0, data.length - (data.length % S));
      const r = applyRelocs(d, first * S, relocs, slice);
      if (r.ok) expect(r.length).toBeLessThanOrEqual(d.length);
      else expect(r.error).toMatch(/^relocation \d+ /);
    }), { numRuns: 500 });
  });
});
