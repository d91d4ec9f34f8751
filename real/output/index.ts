export { checkOutput, checkOutputFolder, type CheckOptions, type CheckedOutput, type OutputKind } from "./check.js";
export { openDiskTarget, type DiskTarget, type DiskTargetOptions } from "./disk-target.js";
export { OutputError, reasonOf } from "./errors.js";
export { TargetIncompleteError, openInPlace, targetSizeBytes, type InPlaceOptions, type InPlaceTarget } from "./in-place.js";
export { cleanUpNow, pendingLeftovers, type Leftovers } from "./leftovers.js";
export { openOutput, writeOutput, writeOutputFileSync, type Output } from "./output.js";
export { makeScratchDir, removeScratchDir } from "./scratch.js";
