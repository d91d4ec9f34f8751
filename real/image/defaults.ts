import type { DeltaCase } from "./delta-bench.js";

/*
 * The image commands' limits and defaults, in a module with no imports: the commands show them in
 * their help when the program is built, before any image code is loaded (issue 12).
 */

/** Segments compressed at once by `image create --jobs`, at most. */
export const JOBS_MAX = 16;

/** Chunks read and inflated ahead of the one being written, by image unzip. */
export const UNZIP_IN_FLIGHT_DEFAULT = 3;

/** A delta that would hold more than this share of a full image is written as a full image. */
export const DELTA_THRESHOLD_PERCENT_DEFAULT = 80;

export const DELTA_CASES: readonly DeltaCase["name"][] = ["blocks", "rewrite", "none"];
/**
 * Short makes are timed again: on a shared machine one run of a second or two is mostly the luck
 * of the scheduler. Ours, xdelta3 and rsync alike; not casync, whose store holds the chunks of a
 * first run, so a second would not measure the same work.
 */
export const REPEAT_UNDER_SEC = 10;
export const REPEAT_DEFAULT = 3;
