import { parentPort } from "node:worker_threads";
import { readAndHash, type PieceReadRequest } from "./piece-read.js";

/** A hashing thread of piece-hasher.ts: reads one window of the disk into a shared slot, hashes its pieces. */
const port = parentPort;
if (port === null) throw new Error("piece-worker must run as a worker thread");
const slots: SharedArrayBuffer[] = [];
port.on("message", (request: PieceReadRequest) => {
  if (request.buffer !== undefined) slots[request.slot] = request.buffer;
  port.postMessage(readAndHash(request, slots));
});
