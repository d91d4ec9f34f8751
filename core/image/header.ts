import {
  CHECKSUM_FIELD_BYTES,
  CHUNK_BYTES,
  CHUNK_DATA_BYTES_MAX,
  HEADER_AREA_BYTES,
  HEADER_V4_BYTES,
  IMAGE_ID_BYTES,
  IV_BYTES,
  MAGIC_BASE,
  V4_FIELDS,
  RELOC_BYTES,
  REGION_BYTES,
  SECTOR_LIMIT,
  chunkError,
  cutChunkError,
  headerAreaUsed,
  headerBytes,
  regionDataBytes,
  type ChunkHeader,
  type ChunkHeaderV4,
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
/** The checksum kinds of `csum_type`'s low byte, and its signed flag (imagehdr.h). */
export const CSUM_NONE = 0;
export const CSUM_SHA1 = 1;
export const CSUM_TYPE_MASK = 0xff;
export const CSUM_SIGNED = 0x8000;
/** The newest version read; 5 (64-bit sectors) came after the fixtures' source. */
const VERSION_READ_MAX = 4;

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
 * "chunk": an ordinary chunk's 4096-byte header area. "header-only": a whole image file that is one
 * version-4 header and nothing else (an empty delta, delta-format.ts): no regions, no data, its
 * header area the 344-byte header. The original imageunzip reads a file 1 MiB at a time and stops
 * at a short read without laying it, so such a file lays nothing, as an empty delta should.
 */
export type ChunkForm = "chunk" | "header-only";

/**
 * Parses and validates the 4096-byte header area of one chunk (or a header-only chunk, see ChunkForm). `expectedIndex`, when given, is the
 * chunk number the caller knows (its position in the file or the Frisbee chunk number); errors
 * name it and the image byte offset of the offending field.
 */
export function parseChunkHeader(bytes: Uint8Array, expectedIndex?: number, form: ChunkForm = "chunk"): ParseResult<ChunkHeader> {
  let n = expectedIndex ?? 0;
  const fail = (at: number, what: string): ParseResult<ChunkHeader> => ({ ok: false, error: chunkError(n, at, what) });
  const empty = form === "header-only";
  // A header-only chunk's header area is the version-4 header itself (its regionsize field says so).
  const areaBytes = empty ? HEADER_V4_BYTES : HEADER_AREA_BYTES;
  if (empty ? bytes.length !== areaBytes : bytes.length < areaBytes) return { ok: false, error: cutChunkError(n, bytes.length) };
  const magic = u32(bytes, F.magic);
  const version = magicVersion(magic);
  if (version === null) return fail(F.magic, `bad magic 0x${magic.toString(16).padStart(8, "0")}: not an image chunk`);
  if (version > VERSION_READ_MAX) return fail(F.magic, `image version ${version} (64-bit chunks) is not supported; versions 1 to ${VERSION_READ_MAX} are`);
  const blockIndex = u32(bytes, F.blockIndex);
  if (expectedIndex === undefined && blockIndex <= INT32_MAX) n = blockIndex;
  if (expectedIndex !== undefined && blockIndex !== expectedIndex) return fail(F.blockIndex, `header says chunk ${blockIndex}`);
  if (blockIndex > INT32_MAX) return fail(F.blockIndex, `chunk number ${blockIndex} is negative`);
  const size = u32(bytes, F.size);
  // A header-only chunk with data would be an ordinary chunk whose data is missing: cut short.
  if (empty && (version !== 4 || size !== 0)) return { ok: false, error: cutChunkError(n, bytes.length) };
  if (!empty && (size === 0 || size > CHUNK_DATA_BYTES_MAX)) return fail(F.size, `compressed size ${size} is outside 1 to ${CHUNK_DATA_BYTES_MAX}`);
  const regionAreaBytes = u32(bytes, F.regionSize);
  if (regionAreaBytes !== areaBytes) return fail(F.regionSize, `header area size ${regionAreaBytes}, expected ${areaBytes}${empty ? " (a header-only chunk)" : ""}`);
  const regionCount = u32(bytes, F.regionCount);
  const relocCount = version === 1 ? 0 : u32(bytes, F.relocCount);
  if (regionCount > areaBytes || relocCount > areaBytes || headerAreaUsed(version, regionCount, relocCount) > areaBytes) {
    return fail(F.regionCount, `${regionCount} regions and ${relocCount} relocations do not fit the ${areaBytes}-byte header area`);
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
  const value: ChunkHeader = { version, compressedBytes: size, chunkIndex: blockIndex, blockTotal: u32(bytes, F.blockTotal), regionAreaBytes, firstSector, lastSector, regions, relocs };
  if (version < 4) return { ok: true, value };
  const v4 = parseV4Fields(bytes);
  if (typeof v4 === "string") return fail(v4 === "cipher" ? V4_FIELDS.encCipher : V4_FIELDS.csumType, v4 === "cipher" ? `encrypted chunk (cipher ${u16(bytes, V4_FIELDS.encCipher)}): encrypted images are not supported` : `checksum type 0x${u16(bytes, V4_FIELDS.csumType).toString(16)} is not one of none (0), SHA-1 (1), signed SHA-1 (0x8001)`);
  value.v4 = v4;
  return { ok: true, value };
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] as number) | ((b[at + 1] as number) << 8);
}

/** The version-4 fields, copied out of the chunk; a reason word when they cannot be used. */
function parseV4Fields(bytes: Uint8Array): ChunkHeaderV4 | "cipher" | "csum" {
  const encCipher = u16(bytes, V4_FIELDS.encCipher);
  if (encCipher !== 0) return "cipher";
  const csumType = u16(bytes, V4_FIELDS.csumType);
  const kind = csumType & CSUM_TYPE_MASK;
  if ((csumType & ~(CSUM_TYPE_MASK | CSUM_SIGNED)) !== 0 || (kind !== CSUM_NONE && kind !== CSUM_SHA1) || csumType === CSUM_SIGNED) return "csum";
  return {
    encCipher,
    csumType,
    iv: bytes.slice(V4_FIELDS.iv, V4_FIELDS.iv + IV_BYTES),
    checksum: bytes.slice(V4_FIELDS.checksum, V4_FIELDS.checksum + CHECKSUM_FIELD_BYTES),
    imageId: bytes.slice(V4_FIELDS.imageId, V4_FIELDS.imageId + IMAGE_ID_BYTES),
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
  /** 3 or 4; a version-4 header without `v4` fields is written as version 3. */
  version?: number;
  /** Version 4: the image id, checksum kind and IV; the checksum itself is sealed in afterwards. */
  v4?: Pick<ChunkHeaderV4, "csumType" | "imageId"> & { iv?: Uint8Array };
}

/**
 * The 4096-byte header area in the original's version 3 layout, or version 4 when `v4` is given
 * (with a zero checksum field: `sealChunk` fills it in once the data is there). A header that
 * cannot fit is a bug.
 */
export function encodeChunkHeader(h: ChunkHeaderInput): Uint8Array {
  const relocs = h.relocs ?? [];
  const version = h.v4 !== undefined ? 4 : Math.min(3, h.version ?? 3);
  const used = headerAreaUsed(version, h.regions.length, relocs.length);
  if (used > HEADER_AREA_BYTES) throw new Error(`chunk ${h.chunkIndex}: ${h.regions.length} regions do not fit the header area`);
  if (h.compressedBytes > CHUNK_DATA_BYTES_MAX || CHUNK_BYTES !== HEADER_AREA_BYTES + CHUNK_DATA_BYTES_MAX) throw new Error(`chunk ${h.chunkIndex}: ${h.compressedBytes} compressed bytes overflow the chunk`);
  const b = new Uint8Array(HEADER_AREA_BYTES);
  put32(b, F.magic, MAGIC_BASE + version - 1);
  put32(b, F.size, h.compressedBytes);
  put32(b, F.blockIndex, h.chunkIndex);
  put32(b, F.blockTotal, 0);
  put32(b, F.regionSize, HEADER_AREA_BYTES);
  put32(b, F.regionCount, h.regions.length);
  put32(b, F.firstSect, h.firstSector);
  put32(b, F.lastSect, h.lastSector);
  put32(b, F.relocCount, relocs.length);
  if (h.v4 !== undefined) putV4Fields(b, h.v4);
  let at = headerBytes(version);
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

function putV4Fields(b: Uint8Array, v4: NonNullable<ChunkHeaderInput["v4"]>): void {
  if (v4.imageId.length !== IMAGE_ID_BYTES) throw new Error(`image id of ${v4.imageId.length} bytes, expected ${IMAGE_ID_BYTES}`);
  b[V4_FIELDS.csumType] = v4.csumType & 0xff;
  b[V4_FIELDS.csumType + 1] = (v4.csumType >>> 8) & 0xff;
  if (v4.iv !== undefined) b.set(v4.iv.subarray(0, IV_BYTES), V4_FIELDS.iv);
  b.set(v4.imageId, V4_FIELDS.imageId);
}
