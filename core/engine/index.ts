export * from "./time.js";
export * from "./rng.js";
export * from "./trace.js";
export * from "./queue.js";
export * from "./engine.js";
export * from "./ports.js";
