/**
 * fast-check for mutation runs only (vitest.stryker.config.ts aliases "fast-check" here): the
 * same library, but each property runs at most STRYKER_NUM_RUNS cases (30 unless set). Every
 * surviving mutant reruns every property that reaches it, with 300-2,000 cases each in the
 * ordinary suite; capped, a survivor costs a second instead of minutes on a loaded machine. The
 * cap can only let a mutant survive that the full suite would kill (a lower bound on the score);
 * such survivors are triaged by hand with the ordinary suite.
 */
import * as real from "../../node_modules/fast-check/lib/fast-check.js";

export * from "../../node_modules/fast-check/lib/fast-check.js";

const cap = Number(process.env["STRYKER_NUM_RUNS"] ?? 30);

type Params = { numRuns?: number } & Record<string, unknown>;

export const assert = ((property: unknown, params?: Params) =>
  (real.assert as (p: unknown, q: Params) => unknown)(property, { ...params, numRuns: Math.min(params?.numRuns ?? 100, cap) })) as typeof real.assert;

export default { ...real.default, assert };
