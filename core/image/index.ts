export * from "./format.js";
export { CHUNK_INFLATED_BYTES_MAX, DEFLATE_RATIO_MAX, encodeChunkHeader, magicVersion, parseChunkHeader, type ChunkHeaderInput } from "./header.js";
export { GRANULARITIES_BYTES, allocatedRanges } from "./scan.js";
export { formatImageStats, imageStats, type ChunkSummary, type ImageStats, type RangeStats } from "./info.js";
