/**
 * The chunked image format of the original imagezip (../shared/reference/images.md): 1 MiB chunks,
 * each a 4096-byte header area (header, regions, relocations; all little-endian uint32) followed by
 * one zlib stream and zero padding. Pure: parsing and encoding only; zlib lives in real/image.
 */

export const CHUNK_BYTES = 1024 * 1024;
export const HEADER_AREA_BYTES = 4096;
/** The compressed bytes one chunk can hold (the original's SUBBLOCKMAX). */
export const CHUNK_DATA_BYTES_MAX = CHUNK_BYTES - HEADER_AREA_BYTES;
export const SECTOR_BYTES = 512;
export const REGION_BYTES = 8;
export const RELOC_BYTES = 16;
export const HEADER_V1_BYTES = 24;
export const HEADER_V2_BYTES = 36;
/**
 * Version 4 (`struct blockhdr_V4`): the V2 fields, then `uint16 enc_cipher`, `uint16 csum_type`,
 * a 32-byte IV, a 256-byte (signed) checksum and the 16-byte image id.
 */
export const HEADER_V4_BYTES = 344;
export const V4_FIELDS = { encCipher: 36, csumType: 38, iv: 40, checksum: 72, imageId: 328 } as const;
export const IV_BYTES = 32;
export const CHECKSUM_FIELD_BYTES = 256;
export const IMAGE_ID_BYTES = 16;
/** A 32-bit sector number: images address at most 2 TiB. */
export const SECTOR_LIMIT = 0x1_0000_0000;

export const MAGIC_BASE = 0x69696969;
/**
 * Version 3 is what the original 2011 tools write by default (fixtures: `6b696969`): `--compat`
 * writes it, byte for byte. Version 4 (checksummed chunks and an image id) is the original's current
 * one and our default.
 */
export const IMAGE_VERSION_COMPAT = 3;
export const IMAGE_VERSION_WRITTEN = 4;
export const IMAGE_VERSIONS_READ: readonly number[] = [1, 2, 3, 4];

export interface Region {
  startSector: number;
  sectorCount: number;
}

export interface Reloc {
  type: number;
  sector: number;
  sectorOffset: number;
  bytes: number;
}

/** The version-4 fields of a chunk header. */
export interface ChunkHeaderV4 {
  /** 0: not encrypted (the only kind read). */
  encCipher: number;
  /** Low byte: 0 none, 1 SHA-1; 0x8000 set when the checksum is RSA-signed. */
  csumType: number;
  iv: Uint8Array;
  /** The whole 256-byte field: a SHA-1 in its first 20 bytes, or an RSA signature. */
  checksum: Uint8Array;
  imageId: Uint8Array;
}

export interface ChunkHeader {
  version: number;
  /** Bytes of the zlib stream that follows the header area. */
  compressedBytes: number;
  chunkIndex: number;
  blockTotal: number;
  regionAreaBytes: number;
  /** First sector the chunk describes (inclusive), free space before the first region included. */
  firstSector: number;
  /** Sector after the last one the chunk describes (exclusive, as the original writes it). */
  lastSector: number;
  regions: Region[];
  relocs: Reloc[];
  /** Present in version 4 chunks only. */
  v4?: ChunkHeaderV4;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** The byte offset of a chunk's byte within its image file. */
export function imageByte(chunkIndex: number, byteInChunk: number): number {
  return chunkIndex * CHUNK_BYTES + byteInChunk;
}

/** One line naming the chunk and the image byte offset where the problem is. */
export function chunkError(chunkIndex: number, byteInChunk: number, what: string): string {
  return `chunk ${chunkIndex} at image byte ${imageByte(chunkIndex, byteInChunk)}: ${what}`;
}

/**
 * A chunk cut short (an image copy that stopped part way): names where the chunk starts, how much
 * of it there is, and from which image byte the rest is missing, not just where the file ends.
 */
export function cutChunkError(chunkIndex: number, presentBytes: number): string {
  const lacking = presentBytes < HEADER_AREA_BYTES ? ` (its ${HEADER_AREA_BYTES}-byte header area is incomplete)` : "";
  return chunkError(chunkIndex, 0, `cut short: ${presentBytes} of its ${CHUNK_BYTES} bytes, the ${CHUNK_BYTES - presentBytes} from image byte ${imageByte(chunkIndex, presentBytes)} on are missing${lacking}`);
}

export function imageChunkCount(imageSizeBytes: number): number {
  return Math.ceil(Math.max(0, imageSizeBytes) / CHUNK_BYTES);
}

export function headerBytes(version: number): number {
  return version === 1 ? HEADER_V1_BYTES : version >= 4 ? HEADER_V4_BYTES : HEADER_V2_BYTES;
}

/** Bytes of the header area a header with this many regions and relocations uses. */
export function headerAreaUsed(version: number, regionCount: number, relocCount: number): number {
  return headerBytes(version) + regionCount * REGION_BYTES + relocCount * RELOC_BYTES;
}

/** Most regions one version 2 or 3 chunk can list (no relocations): (4096 - 36) / 8 = 507. */
export const CHUNK_REGIONS_MAX = Math.floor((HEADER_AREA_BYTES - HEADER_V2_BYTES) / REGION_BYTES);

/** Most regions one chunk of this version can list without relocations (507, or 469 in version 4). */
export function chunkRegionsMax(version: number): number {
  return Math.floor((HEADER_AREA_BYTES - headerBytes(version)) / REGION_BYTES);
}

/** Sum of the region sizes, in bytes: what the chunk's zlib stream must inflate to. */
export function regionDataBytes(regions: readonly Region[]): number {
  let sectors = 0;
  for (const r of regions) sectors += r.sectorCount;
  return sectors * SECTOR_BYTES;
}

/** Ranges inside [firstSector, lastSector) that no region covers: free space, for --zero-fill. */
export function freeRanges(header: Pick<ChunkHeader, "firstSector" | "lastSector" | "regions">): Region[] {
  const gaps: Region[] = [];
  let cursor = header.firstSector;
  for (const r of header.regions) {
    if (r.startSector > cursor) gaps.push({ startSector: cursor, sectorCount: r.startSector - cursor });
    cursor = Math.max(cursor, r.startSector + r.sectorCount);
  }
  if (header.lastSector > cursor) gaps.push({ startSector: cursor, sectorCount: header.lastSector - cursor });
  return gaps;
}
