export * from "./states.js";
export * from "./plan.js";
export * from "./commands.js";
export * from "./node-table.js";
export * from "./machine.js";
export * from "./nodeconfig.js";
export * from "./spec.js";
export * from "./sitevars.js";
