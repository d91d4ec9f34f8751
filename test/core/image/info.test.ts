import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CHUNK_BYTES, formatImageStats, imageStats, parseChunkHeader, type ChunkHeader, type Region } from "../../../core/image/index.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/*
 * `testbed image info`: imagedump's figures and words, from the chunk headers alone. The fixtures'
 * dumps are what the original imagedump printed for them.
 */

function headersOf(name: string): { bytes: number; headers: ChunkHeader[] } {
  const image = readFileSync(emulabFixture(name));
  const headers: ChunkHeader[] = [];
  for (let i = 0; i < image.length / CHUNK_BYTES; i++) {
    const h = parseChunkHeader(image.subarray(i * CHUNK_BYTES), i);
    if (!h.ok) throw new Error(h.error);
    headers.push(h.value);
  }
  return { bytes: image.length, headers };
}

function header(compressedBytes: number, firstSector: number, lastSector: number, regions: Region[], relocs = 0): ChunkHeader {
  const reloc = { type: 1, sector: firstSector, sectorOffset: 0, bytes: 4 };
  return { version: 3, compressedBytes, chunkIndex: 0, blockTotal: 0, regionAreaBytes: 4096, firstSector, lastSector, regions, relocs: Array.from({ length: relocs }, () => ({ ...reloc })) } as ChunkHeader;
}

describe("image info: imagedump's report", () => {
  it("prints what imagedump printed for the original's images, but the mean regions per chunk", () => {
    for (const [name, detail] of [["disk-4mib.ndz", 2], ["disk-4mib-z9.ndz", 0], ["ext2-8mib.ndz", 0]] as const) {
      const { bytes, headers } = headersOf(name);
      const dump = readFileSync(emulabFixture(`${name}${detail > 0 ? ".dump-detail" : ".dump"}.txt`), "utf8").split("\n");
      const ours = formatImageStats(name, imageStats(bytes, headers), detail).split("\n");
      // imagedump divides the regions by one more than the chunks ("0.7" for 2 in 2).
      const regionsLine = (lines: string[]): number => lines.findIndex((l) => l.includes("total regions"));
      expect(dump[regionsLine(dump)]).toBe("  2 total regions: 0.7/1/1 ave/min/max per chunk");
      expect(ours[regionsLine(ours)]).toBe("  2 total regions: 1.0/1/1 ave/min/max per chunk");
      expect(ours.filter((_, i) => i !== regionsLine(ours)), name).toEqual(dump.filter((_, i) => i !== regionsLine(dump)));
    }
  });

  // Chunk 0: free 10, region 20, free 10, region 8, free 52 up to its end; chunk 1: one region of
  // 1000 sectors from its first sector; chunk 2: no regions at all.
  const chunks = [header(1000, 0, 100, [{ startSector: 10, sectorCount: 20 }, { startSector: 40, sectorCount: 8 }], 2), header(2000, 100, 1100, [{ startSector: 100, sectorCount: 1000 }]), header(300, 1100, 1200, [])];
  const imageBytes = 3 * CHUNK_BYTES;

  it("counts free space inside each chunk (before, between and after its regions), regions, relocations and sizes", () => {
    const s = imageStats(imageBytes, chunks);
    const overheadBytes = 3 * CHUNK_BYTES - 3300;
    expect(s).toEqual({
      imageBytes,
      chunks: 3,
      version: 3,
      overheadBytes,
      overheadPercent: (overheadBytes / imageBytes) * 100,
      compressedBytes: 3300,
      regions: 3,
      regionsPerChunk: { ave: 1, min: 0, max: 2 },
      firstSector: 0,
      lastSector: 1200,
      allocatedBytes: 1028 * 512,
      diskBytes: 1100 * 512,
      compressionOfAllocated: (1028 * 512) / 3300,
      compressionOfDisk: (1100 * 512) / 3300,
      relocs: 2,
      freeRanges: { count: 3, aveBytes: Math.floor((72 * 512) / 3), minBytes: 10 * 512, maxBytes: 52 * 512 },
      allocatedRanges: { count: 3, aveBytes: Math.floor((1028 * 512) / 3), minBytes: 8 * 512, maxBytes: 1000 * 512 },
      sizeDistribution: [
        { label: "< 8k", count: 1, percent: (1 / 3) * 100 },
        { label: "< 16k", count: 1, percent: (1 / 3) * 100 },
        { label: ">= 256k", count: 1, percent: (1 / 3) * 100 },
      ],
      chunkList: [
        { index: 0, compressedBytes: 1000, firstSector: 0, lastSector: 100, regions: chunks[0]!.regions, relocs: 2 },
        { index: 1, compressedBytes: 2000, firstSector: 100, lastSector: 1100, regions: chunks[1]!.regions, relocs: 0 },
        { index: 2, compressedBytes: 300, firstSector: 1100, lastSector: 1200, regions: [], relocs: 0 },
      ],
    });
  });

  it("prints chunks, regions, relocations and free ranges in imagedump's words", () => {
    const s = imageStats(imageBytes, chunks);
    const summary = [
      `  ${3 * CHUNK_BYTES - 3300} bytes of overhead/wasted space (99.90% of image file)`,
      "  3 total regions: 1.0/0/2 ave/min/max per chunk",
      "  covered sector range: [0-1200]",
      "  2 relocations",
      "  3300 bytes of compressed data",
      "  159.50x compression of allocated data (526336 bytes)",
      "  170.67x compression of total known disk size (563200 bytes)",
      "  3 free ranges: 12288/5120/26624 ave/min/max size",
      "  3 allocated ranges: 175445/4096/512000 ave/min/max size",
      "  size distribution:",
      "    < 8k bytes:      1  33.3%",
      "    < 16k bytes:      1  33.3%",
      "    >= 256k bytes:      1  33.3%",
      "",
    ];
    expect(formatImageStats("x.ndz", s, 0)).toBe(["x.ndz: 3145728 bytes, 3 chunks, version 3", ...summary].join("\n"));
    const chunkLines = ["  Chunk 0: 1000 compressed bytes, sector range [0-99], 2 relocs, 2 regions", "  Chunk 1: 2000 compressed bytes, sector range [100-1099], 1 regions", "  Chunk 2: 300 compressed bytes, sector range [1100-1199], 0 regions"];
    expect(formatImageStats("x.ndz", s, 1)).toBe(["x.ndz: 3145728 bytes, 3 chunks, version 3", ...chunkLines, "", ...summary].join("\n"));
    expect(formatImageStats("x.ndz", s, 2).split("\n").slice(1, 7)).toEqual([chunkLines[0], "    Region 0: 20 sectors [10-29]", "    Region 1: 8 sectors [40-47]", chunkLines[1], "    Region 0: 1000 sectors [100-1099]", chunkLines[2]]);
  });

  it("sorts regions into imagedump's size buckets at their edges (4 KiB = 8 sectors, doubling to 256 KiB)", () => {
    const sizes = [7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 511, 512];
    let at = 0;
    const regions = sizes.map((n) => ({ startSector: (at += n) - n, sectorCount: n }));
    const s = imageStats(CHUNK_BYTES, [header(100, 0, at, regions)]);
    expect(s.sizeDistribution.map((b) => [b.label, b.count])).toEqual([
      ["< 4k", 1],
      ["< 8k", 2],
      ["< 16k", 2],
      ["< 32k", 2],
      ["< 64k", 2],
      ["< 128k", 2],
      ["< 256k", 2],
      [">= 256k", 1],
    ]);
    expect(s.freeRanges).toEqual({ count: 0, aveBytes: 0, minBytes: 0, maxBytes: 0 });
  });

  it("reports an image without chunks as zeros, and leaves out the lines of what it has none of", () => {
    const s = imageStats(0, []);
    expect(s).toMatchObject({ chunks: 0, version: 0, overheadPercent: 0, compressedBytes: 0, regionsPerChunk: { ave: 0, min: 0, max: 0 }, firstSector: 0, lastSector: 0, compressionOfAllocated: 0, compressionOfDisk: 0, sizeDistribution: [], chunkList: [] });
    expect(s.allocatedRanges).toEqual({ count: 0, aveBytes: 0, minBytes: 0, maxBytes: 0 });
    const text = formatImageStats("empty.ndz", s, 1);
    expect(text).not.toMatch(/relocations|free ranges|allocated ranges|size distribution/);
    expect(text).toBe(
      ["empty.ndz: 0 bytes, 0 chunks, version 0", "", "  0 bytes of overhead/wasted space ( 0.00% of image file)", "  0 total regions: 0.0/0/0 ave/min/max per chunk", "  covered sector range: [0-0]", "  0 bytes of compressed data", "   0.00x compression of allocated data (0 bytes)", "   0.00x compression of total known disk size (0 bytes)", ""].join("\n"),
    );
  });
});
