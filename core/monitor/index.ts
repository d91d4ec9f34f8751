export * from "./backoff.js";
export * from "./flap.js";
export * from "./heap.js";
export * from "./pools.js";
export * from "./monitor.js";
