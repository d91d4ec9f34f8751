import type { Rng } from "../../core/engine/index.js";
import type { StartPattern } from "./decl.js";

/** The start time of each of `count` clients under a pattern, from `offsetUs` on. */
export function startTimes(pattern: StartPattern, count: number, offsetUs: number, rng: Rng): number[] {
  return Array.from({ length: count }, (_, i) => {
    switch (pattern.kind) {
      case "simultaneous":
        return offsetUs;
      case "clustered":
        return offsetUs + Math.floor((i * pattern.clusters) / count) * pattern.everyUs;
      case "uniform":
        return offsetUs + rng.int(pattern.overUs + 1);
      case "at":
        return offsetUs + (pattern.offsetsUs[i] ?? 0);
    }
  });
}
