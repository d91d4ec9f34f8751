export { runChunkModel, type ChunkModelResult } from "./model.js";
export { CHUNK_MODEL_RECEIVER_LOSS_MAX, CHUNK_MODEL_SERVER_LOSS_MAX, chunkModelValidity, planPacing } from "./validity.js";
