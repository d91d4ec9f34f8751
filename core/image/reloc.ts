import { SECTOR_BYTES, type Reloc } from "./format.js";

/**
 * Relocations, applied as the original imageunzip applies them (`applyrelocs`): absolute sector
 * numbers inside an image (BSD disklabels, LILO's boot sector addresses and their checksum) are
 * made to point into the place the image is written to, and a short last sector is cut to size.
 * Images are written `outputMinSector` sectors into their target (a slice); at 0, LILO addresses
 * stay as they are and disklabels are left alone, as in the original.
 */
export const RELOC_NONE = 0;
export const RELOC_FBSDDISKLABEL = 1;
export const RELOC_OBSDDISKLABEL = 2;
export const RELOC_LILOSADDR = 3;
export const RELOC_LILOMAPSECT = 4;
export const RELOC_LILOCKSUM = 5;
export const RELOC_SHORTSECTOR = 6;

export interface RelocTarget {
  /** Where sector 0 of the image goes in the target. */
  outputMinSector: number;
  /** Sectors of the target from `outputMinSector` on (the slice's size). */
  outputSectors: number;
}

export type RelocResult = { ok: true; length: number; applied: number; ignored: number } | { ok: false; error: string };

const DISKMAGIC = 0x8256_4557;
const LABEL_BYTES_MIN = 148;
const RAW_PART = 2;
const LILO_CKSUM = 0xabcd;
const IDTAB_BYTES = 990;
const IDESC_BYTES = 1024;
const MAX_MAP_SECT = 101;
const SADDR_BYTES = 5;

/**
 * Applies every relocation that touches `data`, the bytes about to be written at image byte
 * `offsetBytes`. Returns how many bytes to write (less than `data.length` only for a short
 * sector). A relocation must lie wholly inside one write, as the original asserts.
 */
export function applyRelocs(data: Uint8Array, offsetBytes: number, relocs: readonly Reloc[], t: RelocTarget): RelocResult {
  let length = data.length;
  let applied = 0;
  let ignored = 0;
  for (const [i, r] of relocs.entries()) {
    const at = r.sector * SECTOR_BYTES + r.sectorOffset;
    if (!(offsetBytes < at + r.bytes && offsetBytes + data.length > at)) continue;
    if (at < offsetBytes || at + r.bytes > offsetBytes + data.length) return { ok: false, error: `relocation ${i} (type ${r.type}, image bytes ${at} to ${at + r.bytes}) is cut by a region boundary` };
    const off = at - offsetBytes;
    const done = applyOne(data, off, r, t);
    if (typeof done === "object") return { ok: false, error: `relocation ${i} (type ${r.type} at image byte ${at}): ${done.error}` };
    if (done === "ignored") ignored++;
    else applied++;
    if (r.type === RELOC_SHORTSECTOR) length -= SECTOR_BYTES - r.bytes;
  }
  return { ok: true, length, applied, ignored };
}

type Outcome = "applied" | "ignored" | { error: string };

function applyOne(data: Uint8Array, off: number, r: Reloc, t: RelocTarget): Outcome {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (r.type) {
    case RELOC_NONE:
      return "applied";
    case RELOC_FBSDDISKLABEL:
    case RELOC_OBSDDISKLABEL:
      if (r.bytes < LABEL_BYTES_MIN) return { error: `a disklabel needs ${LABEL_BYTES_MIN} bytes, the relocation covers ${r.bytes}` };
      return t.outputMinSector === 0 ? "applied" : relocLabel(view, off, r, t);
    case RELOC_LILOSADDR:
    case RELOC_LILOMAPSECT: {
      const count = r.type === RELOC_LILOSADDR ? 1 : MAX_MAP_SECT + 1;
      if (r.bytes !== (r.type === RELOC_LILOSADDR ? SADDR_BYTES : SECTOR_BYTES)) return { error: `a LILO ${r.type === RELOC_LILOSADDR ? "sector address" : "map sector"} of ${r.bytes} bytes` };
      for (let k = 0; k < count; k++) if (!relocLiloAddress(data, off + k * SADDR_BYTES, t.outputMinSector)) break;
      return "applied";
    }
    case RELOC_LILOCKSUM: {
      if (r.bytes !== 2 || off < IDTAB_BYTES) return { error: "a LILO checksum must be 2 bytes after its descriptor table" };
      const table = off - IDTAB_BYTES;
      if (table + IDESC_BYTES > data.length) return { error: "the LILO descriptor table runs past the region" };
      view.setUint16(table, 0, true);
      let sum = LILO_CKSUM;
      for (let p = table; p < table + IDESC_BYTES; p += 2) sum ^= view.getUint16(p, true);
      view.setUint16(table, sum, true);
      return "applied";
    }
    case RELOC_SHORTSECTOR:
      if (r.sectorOffset !== 0 || r.bytes >= SECTOR_BYTES || off + SECTOR_BYTES !== data.length) return { error: "a short sector must be the last sector of its region, shorter than 512 bytes" };
      return "applied";
    default:
      return "ignored";
  }
}

/** BSD disklabel partitions are made absolute and fitted to the slice; the checksum is redone. */
function relocLabel(view: DataView, off: number, r: Reloc, t: RelocTarget): Outcome {
  if (view.getUint32(off, true) !== DISKMAGIC || view.getUint32(off + 132, true) !== DISKMAGIC) return { error: "no disklabel at the relocation" };
  const npart = view.getUint16(off + 138, true);
  if (LABEL_BYTES_MIN + npart * 16 > r.bytes) return { error: `${npart} partitions do not fit the ${r.bytes}-byte disklabel` };
  const maxSector = t.outputMinSector + t.outputSectors;
  for (let i = 0; i < npart; i++) {
    const p = off + LABEL_BYTES_MIN + i * 16;
    if (view.getUint32(p, true) === 0) continue;
    if (r.type === RELOC_OBSDDISKLABEL && (i === RAW_PART || (i >= 8 && i < 16))) continue;
    const offset = (view.getUint32(p + 4, true) + t.outputMinSector) >>> 0;
    view.setUint32(p + 4, offset, true);
    const size = view.getUint32(p, true);
    if (offset + size > maxSector) view.setUint32(p, Math.max(0, maxSector - offset), true);
    else if (i === RAW_PART && size !== t.outputSectors) view.setUint32(p, t.outputSectors, true);
  }
  view.setUint16(off + 136, 0, true);
  let sum = 0;
  for (let p = off; p < off + LABEL_BYTES_MIN + npart * 16; p += 2) sum ^= view.getUint16(p, true);
  view.setUint16(off + 136, sum, true);
  return "applied";
}

/** One LILO sector address (lilo.h getsector/putsector): false at the list's end. */
function relocLiloAddress(b: Uint8Array, at: number, add: number): boolean {
  const [sector, track, device, head, nsect] = [b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!];
  if (sector === 0 && track === 0 && device === 0 && head === 0 && nsect === 0) return false;
  const flags = device & 0xf0 & ~0x80;
  if (flags === 0) return false; // a CHS address ends the list, as in the original (it cannot read them)
  const noCount = (flags & 0x40) === 0 && (flags & 0x10) !== 0;
  let s = (head << 16) | (track << 8) | sector;
  if (noCount) s += nsect * 0x100_0000;
  s = (s + add) >>> 0;
  b[at + 3] = (s >>> 16) & 0xff;
  b[at + 1] = (s >>> 8) & 0xff;
  b[at] = s & 0xff;
  if (noCount) b[at + 4] = (s >>> 24) & 0xff;
  return true;
}
