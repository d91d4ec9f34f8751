import { SECTOR_BYTES, type Region } from "./format.js";
import { extAllocation, hasExtMagic, type DiskReader, type ExtKind } from "./extfs.js";
import { normalize, pushRange, subtract } from "./ranges.js";

/**
 * How a disk is laid out, for file-system-aware images: a bare ext2/3/4 file system, or an MBR or
 * GPT partition table whose partitions are probed one by one. Inside a file system the bitmaps
 * say what is in use; a Linux swap partition keeps only its first 32 KiB (as the original does);
 * everything else (partition tables, gaps, other file systems) is a raw area, where a block is in
 * use unless it is all zeros.
 */
export interface Partition {
  index: number;
  startSector: number;
  sectorCount: number;
  /** MBR type byte, or the GPT type GUID. */
  type: string;
}

export interface FsArea {
  startSector: number;
  sectorCount: number;
  kind: ExtKind | "swap";
  blockBytes: number;
  usedBlocks: number;
  blocks: number;
}

export interface DiskLayout {
  table: "none" | "mbr" | "gpt";
  partitions: Partition[];
  fsAreas: FsArea[];
  /** In-use sectors inside the file-system areas (normal). */
  fsInUse: Region[];
  /** The rest of the disk (normal): scanned for all-zero blocks. */
  rawAreas: Region[];
  /** One line per area read, and why an area fell back to raw. */
  notes: string[];
}

/** Limits on what a partition table may list. */
export const MBR_LOGICAL_MAX = 128;
export const GPT_ENTRIES_MAX = 1024;
const SWAP_KEPT_BYTES = 0x8000;
const GPT_SIGNATURE = "EFI PART";
const MBR_EXTENDED = new Set([0x05, 0x0f, 0x85]);
const MBR_PROTECTIVE = 0xee;

function u32(b: Uint8Array, at: number): number {
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16)) + (b[at + 3] as number) * 0x100_0000;
}
function u64(b: Uint8Array, at: number): number {
  return u32(b, at) + u32(b, at + 4) * 0x1_0000_0000;
}

export function diskLayout(reader: DiskReader): DiskLayout {
  const diskSectors = Math.floor(reader.sizeBytes / SECTOR_BYTES);
  const whole = { startSector: 0, sectorCount: diskSectors };
  const layout: DiskLayout = { table: "none", partitions: [], fsAreas: [], fsInUse: [], rawAreas: [], notes: [] };
  if (hasExtMagic(reader, 0, reader.sizeBytes)) {
    probeArea(reader, layout, whole, "the disk");
  } else {
    const table = readPartitionTable(reader, diskSectors);
    layout.table = table.table;
    layout.partitions = table.partitions;
    if (table.problem !== null) layout.notes.push(table.problem);
    for (const p of table.partitions) probeArea(reader, layout, p, `partition ${p.index} (type ${p.type})`);
    if (table.table === "none" && table.problem === null) layout.notes.push("no partition table and no ext2/3/4 file system: raw, all-zero blocks skipped");
  }
  layout.fsInUse = normalize(layout.fsInUse);
  const fsCovered = normalize(layout.fsAreas.map((a) => ({ startSector: a.startSector, sectorCount: a.sectorCount })));
  layout.rawAreas = subtract([whole], fsCovered);
  return layout;
}

function probeArea(reader: DiskReader, layout: DiskLayout, area: { startSector: number; sectorCount: number; type?: string }, name: string): void {
  const startBytes = area.startSector * SECTOR_BYTES;
  const bytes = area.sectorCount * SECTOR_BYTES;
  if (isSwap(reader, startBytes, bytes, area.type)) {
    layout.fsAreas.push({ startSector: area.startSector, sectorCount: area.sectorCount, kind: "swap", blockBytes: SECTOR_BYTES, usedBlocks: SWAP_KEPT_BYTES / SECTOR_BYTES, blocks: area.sectorCount });
    pushRange(layout.fsInUse, area.startSector, Math.min(area.sectorCount, SWAP_KEPT_BYTES / SECTOR_BYTES));
    layout.notes.push(`${name}: Linux swap: only its first 32 KiB kept`);
    return;
  }
  if (!hasExtMagic(reader, startBytes, bytes)) {
    layout.notes.push(`${name}: not ext2/3/4: raw, all-zero blocks skipped`);
    return;
  }
  const fs = extAllocation(reader, startBytes, bytes);
  if (typeof fs === "string") {
    layout.notes.push(`${name}: ext superblock found but ${fs}: raw, all-zero blocks skipped`);
    return;
  }
  const sectors = (fs.blocks * fs.blockBytes) / SECTOR_BYTES;
  layout.fsAreas.push({ startSector: area.startSector, sectorCount: sectors, kind: fs.kind, blockBytes: fs.blockBytes, usedBlocks: fs.usedBlocks, blocks: fs.blocks });
  layout.fsInUse.push(...fs.inUse);
  const tail = area.sectorCount > sectors ? `; ${area.sectorCount - sectors} sectors after it: raw` : "";
  layout.notes.push(`${name}: ${fs.kind}, ${fs.blockBytes / 1024} KiB blocks, ${fs.usedBlocks} of ${fs.blocks} in use${tail}`);
  for (const w of fs.warnings.slice(0, 3)) layout.notes.push(`${name}: warning: ${w}`);
}

function isSwap(reader: DiskReader, startBytes: number, bytes: number, type?: string): boolean {
  if (bytes < 4096 + SWAP_KEPT_BYTES) return false;
  const sig = String.fromCharCode(...reader.read(startBytes + 4086, 10));
  return sig === "SWAPSPACE2" || (sig === "SWAP-SPACE" && type === "0x82");
}

interface TableResult {
  table: "none" | "mbr" | "gpt";
  partitions: Partition[];
  problem: string | null;
}

/** An MBR (with logical partitions) or a GPT; a table that does not hold together is ignored, said. */
export function readPartitionTable(reader: DiskReader, diskSectors: number): TableResult {
  if (diskSectors < 2) return { table: "none", partitions: [], problem: null };
  const mbr = reader.read(0, SECTOR_BYTES);
  if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) return { table: "none", partitions: [], problem: null };
  const entries = [0, 1, 2, 3].map((i) => mbrEntry(mbr, i, 0));
  if (entries.some((e) => e !== null && e.bad)) return { table: "none", partitions: [], problem: "sector 0 ends in 55aa but its partition entries do not hold together: raw, all-zero blocks skipped" };
  if (entries.some((e) => e !== null && e.typeByte === MBR_PROTECTIVE)) return readGpt(reader, diskSectors);
  const partitions: Partition[] = [];
  for (const [i, e] of entries.entries()) {
    if (e === null) continue;
    if (MBR_EXTENDED.has(e.typeByte)) {
      const logical = readLogical(reader, e.startSector, e.sectorCount, diskSectors);
      // The primaries before a broken chain are kept, but checked like any table: diskLayout
      // probes each, so one past the disk's end would be read there.
      if (typeof logical === "string") return checked({ table: "mbr", partitions, problem: logical }, diskSectors);
      partitions.push(...logical);
    } else partitions.push({ index: i + 1, startSector: e.startSector, sectorCount: e.sectorCount, type: `0x${e.typeByte.toString(16).padStart(2, "0")}` });
  }
  return checked({ table: "mbr", partitions, problem: null }, diskSectors);
}

function mbrEntry(sector: Uint8Array, i: number, base: number): { typeByte: number; startSector: number; sectorCount: number; bad: boolean } | null {
  const at = 446 + i * 16;
  const typeByte = sector[at + 4] as number;
  if (typeByte === 0) return null;
  const status = sector[at] as number;
  const startSector = base + u32(sector, at + 8);
  const sectorCount = u32(sector, at + 12);
  return { typeByte, startSector, sectorCount, bad: (status !== 0 && status !== 0x80) || sectorCount === 0 || startSector === base };
}

/** Logical partitions: a chain of EBRs, each naming one partition and the next EBR. */
function readLogical(reader: DiskReader, extStart: number, extSectors: number, diskSectors: number): Partition[] | string {
  const out: Partition[] = [];
  let ebr = extStart;
  for (let n = 0; n < MBR_LOGICAL_MAX; n++) {
    if (ebr >= diskSectors || ebr < extStart || ebr >= extStart + extSectors) return `logical partition ${n + 5}: its EBR at sector ${ebr} is outside the extended partition`;
    const sector = reader.read(ebr * SECTOR_BYTES, SECTOR_BYTES);
    if (sector[510] !== 0x55 || sector[511] !== 0xaa) return `logical partition ${n + 5}: no EBR signature at sector ${ebr}`;
    const part = mbrEntry(sector, 0, ebr);
    if (part !== null && !part.bad) out.push({ index: n + 5, startSector: part.startSector, sectorCount: part.sectorCount, type: `0x${part.typeByte.toString(16).padStart(2, "0")}` });
    const next = mbrEntry(sector, 1, 0);
    if (next === null) return out;
    ebr = extStart + next.startSector;
  }
  return `more than ${MBR_LOGICAL_MAX} logical partitions`;
}

function guid(b: Uint8Array): string {
  const h = (from: number, to: number, reverse: boolean): string => {
    const bytes = Array.from(b.subarray(from, to));
    if (reverse) bytes.reverse();
    return bytes.map((x) => x.toString(16).padStart(2, "0")).join("");
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}

function readGpt(reader: DiskReader, diskSectors: number): TableResult {
  const header = reader.read(SECTOR_BYTES, SECTOR_BYTES);
  if (String.fromCharCode(...header.subarray(0, 8)) !== GPT_SIGNATURE) return { table: "none", partitions: [], problem: "protective MBR without a GPT header at sector 1: raw, all-zero blocks skipped" };
  const entriesLba = u64(header, 72);
  const count = u32(header, 80);
  const entryBytes = u32(header, 84);
  if (count > GPT_ENTRIES_MAX || entryBytes < 128 || entryBytes > 4096 || entriesLba < 2 || entriesLba * SECTOR_BYTES + count * entryBytes > diskSectors * SECTOR_BYTES) {
    return { table: "none", partitions: [], problem: `GPT header lists ${count} entries of ${entryBytes} bytes at sector ${entriesLba}, which do not fit: raw, all-zero blocks skipped` };
  }
  const table = reader.read(entriesLba * SECTOR_BYTES, count * entryBytes);
  const partitions: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = table.subarray(i * entryBytes, i * entryBytes + 128);
    if (e.subarray(0, 16).every((x) => x === 0)) continue;
    const first = u64(e, 32);
    const last = u64(e, 40);
    if (last < first) return { table: "gpt", partitions: [], problem: `GPT entry ${i + 1} ends (sector ${last}) before it starts (${first}): raw, all-zero blocks skipped` };
    partitions.push({ index: i + 1, startSector: first, sectorCount: last - first + 1, type: guid(e.subarray(0, 16)) });
  }
  return checked({ table: "gpt", partitions, problem: null }, diskSectors);
}

/** Partitions must lie on the disk and apart; a table that breaks this is not trusted. */
function checked(t: TableResult, diskSectors: number): TableResult {
  const sorted = [...t.partitions].sort((a, b) => a.startSector - b.startSector);
  for (let i = 0; i < sorted.length; i++) {
    const p = sorted[i]!;
    const prev = sorted[i - 1];
    if (p.startSector + p.sectorCount > diskSectors) return { table: t.table, partitions: [], problem: `partition ${p.index} runs past the disk's end (sector ${diskSectors}): raw, all-zero blocks skipped` };
    if (prev !== undefined && prev.startSector + prev.sectorCount > p.startSector) return { table: t.table, partitions: [], problem: `partitions ${prev.index} and ${p.index} overlap: raw, all-zero blocks skipped` };
  }
  return { ...t, partitions: sorted };
}
