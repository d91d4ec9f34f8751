export { decodeChunk, imageChunkCount, inflateChunkData, type ChunkResult, type ChunkWrite, type DecodedChunk, type InflateResult } from "./chunk.js";
export { ChunkCompressor, READ_BYTES_MAX, type ClosedChunk } from "./compressor.js";
export { JOBS_MAX, SEGMENT_BYTES_DEFAULT, WINDOW_BYTES_DEFAULT, createImage, type CreateOptions, type CreateResult, type ImageLayout } from "./create.js";
export { loadCompatEngine, nodeEngine, type DeflateEngine, type DeflateEngineName, type Deflater } from "./deflater.js";
export { ImageIoError, sourceSizeBytes } from "./source.js";
export { ImageCorruptError, UNZIP_IN_FLIGHT_DEFAULT, readImageHeaders, unzipImage, type ImageHeaders, type UnzipOptions, type UnzipResult } from "./unzip.js";
export { writeDiskLikeFile } from "./disklike.js";
