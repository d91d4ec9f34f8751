import {
  CHUNK_BYTES,
  CHUNK_DATA_BYTES_MAX,
  HEADER_AREA_BYTES,
  IMAGE_VERSION_WRITTEN,
  MAGIC_BASE,
  RELOC_BYTES,
  REGION_BYTES,
  SECTOR_LIMIT,
  chunkError,
  headerAreaUsed,
  headerBytes,
  regionDataBytes,
  type ChunkHeader,
  type ParseResult,
  type Reloc,
  type Region,
} from "./format.js";

/**
 * Deflate expands at most 1032:1 (a 258-byte match costs at least 2 bits), so a chunk whose
 * regions claim more than this per compressed byte is corrupt before it is inflated.
 */
export const DEFLATE_RATIO_MAX = 1032;
/** The most one chunk may inflate to; decoding holds a chunk's data in memory to verify it first. */
export const CHUNK_INFLATED_BYTES_MAX = 1024 * 1024 * 1024;

const INT32_MAX = 0x7fff_ffff;

/** Header field byte offsets (all uint32, little-endian). */
const F = { magic: 0, size: 4, blockIndex: 8, blockTotal: 12, regionSize: 16, regionCount: 20, firstSect: 24, lastSect: 28, relocCount: 32 } as const;

function u32(b: Uint8Array, at: number): number {
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16)) + (b[at + 3] as number) * 0x100_0000;
}

function put32(b: Uint8Array, at: number, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= SECTOR_LIMIT) throw new Error(`header field at ${at}: ${v} is not a uint32`);
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** The image version a chunk's first four bytes announce, or null. */
export function magicVersion(magic: number): number | null {
  const v = magic - MAGIC_BASE + 1;
  return v >= 1 && v <= 16 ? v : null;
}

/**
 * Parses and validates the 4096-byte header area of one chunk. `expectedIndex`, when given, is the
 * chunk number the caller knows (its position in the file or the Frisbee chunk number); errors
 * name it and the image byte offset of the offending field.
 */
export function parseChunkHeader(bytes: Uint8Array, expectedIndex?: number): ParseResult<ChunkHeader> {
  let n = expectedIndex ?? 0;
  const fail = (at: number, what: string): ParseResult<ChunkHeader> => ({ ok: false, error: chunkError(n, at, what) });
  if (bytes.length < HEADER_AREA_BYTES) return fail(bytes.length, `truncated: ${bytes.length} bytes, shorter than the ${HEADER_AREA_BYTES}-byte header area`);
  const magic = u32(bytes, F.magic);
  const version = magicVersion(magic);
  if (version === null) return fail(F.magic, `bad magic 0x${magic.toString(16).padStart(8, "0")}: not an image chunk`);
  if (version > 3) return fail(F.magic, `image version ${version} (checksummed or 64-bit chunks) is not supported; versions 1 to 3 are`);
  const blockIndex = u32(bytes, F.blockIndex);
  if (expectedIndex === undefined && blockIndex <= INT32_MAX) n = blockIndex;
  if (expectedIndex !== undefined && blockIndex !== expectedIndex) return fail(F.blockIndex, `header says chunk ${blockIndex}`);
  if (blockIndex > INT32_MAX) return fail(F.blockIndex, `chunk number ${blockIndex} is negative`);
  const size = u32(bytes, F.size);
  if (size === 0 || size > CHUNK_DATA_BYTES_MAX) return fail(F.size, `compressed size ${size} is outside 1 to ${CHUNK_DATA_BYTES_MAX}`);
  const regionAreaBytes = u32(bytes, F.regionSize);
  if (regionAreaBytes !== HEADER_AREA_BYTES) return fail(F.regionSize, `header area size ${regionAreaBytes}, expected ${HEADER_AREA_BYTES}`);
  const regionCount = u32(bytes, F.regionCount);
  const relocCount = version === 1 ? 0 : u32(bytes, F.relocCount);
  if (regionCount > HEADER_AREA_BYTES || relocCount > HEADER_AREA_BYTES || headerAreaUsed(version, regionCount, relocCount) > HEADER_AREA_BYTES) {
    return fail(F.regionCount, `${regionCount} regions and ${relocCount} relocations do not fit the ${HEADER_AREA_BYTES}-byte header area`);
  }
  const regions = parseRegions(bytes, headerBytes(version), regionCount);
  if (typeof regions === "string") return { ok: false, error: chunkError(n, headerBytes(version), regions) };
  const first = regions[0];
  const last = regions[regions.length - 1];
  const firstSector = version === 1 ? (first?.startSector ?? 0) : u32(bytes, F.firstSect);
  const lastSector = version === 1 ? (last === undefined ? 0 : last.startSector + last.sectorCount) : u32(bytes, F.lastSect);
  if (firstSector > lastSector) return fail(F.firstSect, `first sector ${firstSector} is after last sector ${lastSector}`);
  if (first !== undefined && last !== undefined && (first.startSector < firstSector || last.startSector + last.sectorCount > lastSector)) {
    return fail(headerBytes(version), `regions [${first.startSector}, ${last.startSector + last.sectorCount}) stray outside the chunk's sectors [${firstSector}, ${lastSector})`);
  }
  const inflatedBytes = regionDataBytes(regions);
  if (inflatedBytes > CHUNK_INFLATED_BYTES_MAX) return fail(headerBytes(version), `regions add up to ${inflatedBytes} bytes, over the ${CHUNK_INFLATED_BYTES_MAX}-byte limit of one chunk`);
  if (inflatedBytes > size * DEFLATE_RATIO_MAX + 1024) return fail(F.size, `regions add up to ${inflatedBytes} bytes, more than ${size} compressed bytes can hold`);
  const relocs = parseRelocs(bytes, headerBytes(version) + regionCount * REGION_BYTES, relocCount);
  return {
    ok: true,
    value: { version, compressedBytes: size, chunkIndex: blockIndex, blockTotal: u32(bytes, F.blockTotal), regionAreaBytes, firstSector, lastSector, regions, relocs },
  };
}

/** Regions must be non-empty, ascending and non-overlapping, within 32-bit sectors. */
function parseRegions(bytes: Uint8Array, at: number, count: number): Region[] | string {
  const regions: Region[] = [];
  let end = 0;
  for (let i = 0; i < count; i++) {
    const startSector = u32(bytes, at + i * REGION_BYTES);
    const sectorCount = u32(bytes, at + i * REGION_BYTES + 4);
    if (sectorCount === 0) return `region ${i} is empty`;
    if (startSector < end) return `region ${i} starts at sector ${startSector}, before the end of the previous region (${end})`;
    if (startSector + sectorCount > SECTOR_LIMIT) return `region ${i} runs past sector 2^32`;
    regions.push({ startSector, sectorCount });
    end = startSector + sectorCount;
  }
  return regions;
}

function parseRelocs(bytes: Uint8Array, at: number, count: number): Reloc[] {
  const relocs: Reloc[] = [];
  for (let i = 0; i < count; i++) {
    const o = at + i * RELOC_BYTES;
    relocs.push({ type: u32(bytes, o), sector: u32(bytes, o + 4), sectorOffset: u32(bytes, o + 8), bytes: u32(bytes, o + 12) });
  }
  return relocs;
}

export interface ChunkHeaderInput {
  compressedBytes: number;
  chunkIndex: number;
  firstSector: number;
  lastSector: number;
  regions: readonly Region[];
  relocs?: readonly Reloc[];
}

/** The 4096-byte header area, in the original's version 3 layout. A header that cannot fit is a bug. */
export function encodeChunkHeader(h: ChunkHeaderInput): Uint8Array {
  const relocs = h.relocs ?? [];
  const used = headerAreaUsed(IMAGE_VERSION_WRITTEN, h.regions.length, relocs.length);
  if (used > HEADER_AREA_BYTES) throw new Error(`chunk ${h.chunkIndex}: ${h.regions.length} regions do not fit the header area`);
  if (h.compressedBytes > CHUNK_DATA_BYTES_MAX || CHUNK_BYTES !== HEADER_AREA_BYTES + CHUNK_DATA_BYTES_MAX) throw new Error(`chunk ${h.chunkIndex}: ${h.compressedBytes} compressed bytes overflow the chunk`);
  const b = new Uint8Array(HEADER_AREA_BYTES);
  put32(b, F.magic, MAGIC_BASE + IMAGE_VERSION_WRITTEN - 1);
  put32(b, F.size, h.compressedBytes);
  put32(b, F.blockIndex, h.chunkIndex);
  put32(b, F.blockTotal, 0);
  put32(b, F.regionSize, HEADER_AREA_BYTES);
  put32(b, F.regionCount, h.regions.length);
  put32(b, F.firstSect, h.firstSector);
  put32(b, F.lastSect, h.lastSector);
  put32(b, F.relocCount, relocs.length);
  let at = headerBytes(IMAGE_VERSION_WRITTEN);
  for (const r of h.regions) {
    put32(b, at, r.startSector);
    put32(b, at + 4, r.sectorCount);
    at += REGION_BYTES;
  }
  for (const r of relocs) {
    put32(b, at, r.type);
    put32(b, at + 4, r.sector);
    put32(b, at + 8, r.sectorOffset);
    put32(b, at + 12, r.bytes);
    at += RELOC_BYTES;
  }
  return b;
}
