import { parentPort } from "node:worker_threads";
import { inflateForDisk, type InflateRequest } from "./inflate-chunk.js";

/** The decompression thread: decodes and checks each chunk it is given, and hands back the writes. */
const port = parentPort;
if (port === null) throw new Error("inflate-worker must run as a worker thread");
port.on("message", (request: InflateRequest) => {
  const reply = inflateForDisk(request);
  port.postMessage(reply, reply.ok ? [reply.buffer] : []);
});
