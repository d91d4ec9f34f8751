export * from "./constants.js";
export * from "./codec.js";
export * from "./server.js";
export * from "./daemon.js";
export * from "./client.js";
export * from "./sampled.js";
