import { CHUNK_BYTES, HEADER_AREA_BYTES, SECTOR_BYTES, type ChunkHeader, type Region } from "./format.js";

export interface RangeStats {
  count: number;
  aveBytes: number;
  minBytes: number;
  maxBytes: number;
}

export interface ChunkSummary {
  index: number;
  compressedBytes: number;
  firstSector: number;
  lastSector: number;
  regions: Region[];
  relocs: number;
}

/** What imagedump reports about an image, from its chunk headers alone. */
export interface ImageStats {
  imageBytes: number;
  chunks: number;
  version: number;
  overheadBytes: number;
  overheadPercent: number;
  compressedBytes: number;
  regions: number;
  regionsPerChunk: { ave: number; min: number; max: number };
  firstSector: number;
  lastSector: number;
  allocatedBytes: number;
  /** Allocated plus free space inside the chunks' sector ranges. */
  diskBytes: number;
  compressionOfAllocated: number;
  compressionOfDisk: number;
  relocs: number;
  freeRanges: RangeStats;
  allocatedRanges: RangeStats;
  /** Regions by size, imagedump's buckets: < 4k, < 8k, ... < 256k, >= 256k. */
  sizeDistribution: { label: string; count: number; percent: number }[];
  chunkList: ChunkSummary[];
}

const BUCKET_LABELS = ["< 4k", "< 8k", "< 16k", "< 32k", "< 64k", "< 128k", "< 256k", ">= 256k"];

class RangeCounter {
  count = 0;
  totalSectors = 0;
  min = Infinity;
  max = 0;
  add(sectors: number): void {
    this.count++;
    this.totalSectors += sectors;
    this.min = Math.min(this.min, sectors);
    this.max = Math.max(this.max, sectors);
  }
  stats(): RangeStats {
    if (this.count === 0) return { count: 0, aveBytes: 0, minBytes: 0, maxBytes: 0 };
    return { count: this.count, aveBytes: Math.floor((this.totalSectors * SECTOR_BYTES) / this.count), minBytes: this.min * SECTOR_BYTES, maxBytes: this.max * SECTOR_BYTES };
  }
}

function bucket(sectors: number): number {
  let i = 0;
  for (let limit = 8; i < 7 && sectors >= limit; limit *= 2) i++;
  return i;
}

/**
 * imagedump's figures: free space is counted inside each chunk (before its first region, between
 * regions, after its last), and regions are counted as they are listed, so a range split across
 * two chunks counts twice, as the original counts it.
 */
export function imageStats(imageBytes: number, headers: readonly ChunkHeader[]): ImageStats {
  const free = new RangeCounter();
  const allocated = new RangeCounter();
  const buckets = new Array<number>(8).fill(0);
  let overheadBytes = 0;
  let relocs = 0;
  let nextSector = 0;
  for (const h of headers) {
    // A chunk takes 1 MiB of the file, but a header-only one (an empty delta) only its header.
    overheadBytes += (h.regionAreaBytes === HEADER_AREA_BYTES ? CHUNK_BYTES : h.regionAreaBytes) - h.compressedBytes;
    relocs += h.relocs.length;
    h.regions.forEach((r, i) => {
      const gap = i === 0 ? r.startSector - h.firstSector : r.startSector - nextSector;
      if (gap > 0) free.add(gap);
      allocated.add(r.sectorCount);
      buckets[bucket(r.sectorCount)]!++;
      nextSector = r.startSector + r.sectorCount;
    });
    const tail = h.lastSector - nextSector;
    if (h.regions.length > 0 && tail > 0) free.add(tail);
  }
  const compressedBytes = imageBytes - overheadBytes;
  const allocatedBytes = allocated.totalSectors * SECTOR_BYTES;
  const diskBytes = allocatedBytes + free.totalSectors * SECTOR_BYTES;
  const perChunk = headers.map((h) => h.regions.length);
  return {
    imageBytes,
    chunks: headers.length,
    version: headers[0]?.version ?? 0,
    overheadBytes,
    overheadPercent: imageBytes === 0 ? 0 : (overheadBytes / imageBytes) * 100,
    compressedBytes,
    regions: allocated.count,
    regionsPerChunk: { ave: perChunk.length === 0 ? 0 : allocated.count / perChunk.length, min: perChunk.length === 0 ? 0 : Math.min(...perChunk), max: Math.max(0, ...perChunk) },
    firstSector: headers[0]?.firstSector ?? 0,
    lastSector: headers[headers.length - 1]?.lastSector ?? 0,
    allocatedBytes,
    diskBytes,
    compressionOfAllocated: compressedBytes > 0 ? allocatedBytes / compressedBytes : 0,
    compressionOfDisk: compressedBytes > 0 ? diskBytes / compressedBytes : 0,
    relocs,
    freeRanges: free.stats(),
    allocatedRanges: allocated.stats(),
    sizeDistribution: buckets.flatMap((count, i) => (count === 0 ? [] : [{ label: BUCKET_LABELS[i]!, count, percent: (count / allocated.count) * 100 }])),
    chunkList: headers.map((h, index) => ({ index, compressedBytes: h.compressedBytes, firstSector: h.firstSector, lastSector: h.lastSector, regions: h.regions, relocs: h.relocs.length })),
  };
}

const fixed = (v: number, digits: number, width: number): string => v.toFixed(digits).padStart(width);

/**
 * The report in imagedump's words and layout. `detail` 1 adds a line per chunk and 2 a line per
 * region, as `imagedump -d -d` prints them. One departure: imagedump divides the regions by one
 * more than the number of chunks ("0.7 ave" for 2 regions in 2 chunks); this prints the mean.
 */
export function formatImageStats(name: string, s: ImageStats, detail: number): string {
  const lines = [`${name}: ${s.imageBytes} bytes, ${s.chunks} chunks, version ${s.version}`];
  if (detail > 0) {
    for (const c of s.chunkList) {
      const relocs = c.relocs > 0 ? `${c.relocs} relocs, ` : "";
      lines.push(`  Chunk ${c.index}: ${c.compressedBytes} compressed bytes, sector range [${c.firstSector}-${c.lastSector - 1}], ${relocs}${c.regions.length} regions`);
      if (detail > 1) c.regions.forEach((r, i) => lines.push(`    Region ${i}: ${r.sectorCount} sectors [${r.startSector}-${r.startSector + r.sectorCount - 1}]`));
    }
    lines.push("");
  }
  lines.push(`  ${s.overheadBytes} bytes of overhead/wasted space (${fixed(s.overheadPercent, 2, 5)}% of image file)`);
  lines.push(`  ${s.regions} total regions: ${s.regionsPerChunk.ave.toFixed(1)}/${s.regionsPerChunk.min}/${s.regionsPerChunk.max} ave/min/max per chunk`);
  lines.push(`  covered sector range: [${s.firstSector}-${s.lastSector}]`);
  if (s.relocs > 0) lines.push(`  ${s.relocs} relocations`);
  lines.push(`  ${s.compressedBytes} bytes of compressed data`);
  lines.push(`  ${fixed(s.compressionOfAllocated, 2, 5)}x compression of allocated data (${s.allocatedBytes} bytes)`);
  lines.push(`  ${fixed(s.compressionOfDisk, 2, 5)}x compression of total known disk size (${s.diskBytes} bytes)`);
  const f = s.freeRanges;
  if (f.count > 0) lines.push(`  ${f.count} free ranges: ${f.aveBytes}/${f.minBytes}/${f.maxBytes} ave/min/max size`);
  const a = s.allocatedRanges;
  if (a.count > 0) {
    lines.push(`  ${a.count} allocated ranges: ${a.aveBytes}/${a.minBytes}/${a.maxBytes} ave/min/max size`);
    lines.push("  size distribution:");
    for (const b of s.sizeDistribution) lines.push(`    ${b.label} bytes: ${String(b.count).padStart(6)} ${fixed(b.percent, 1, 5)}%`);
  }
  return `${lines.join("\n")}\n`;
}
