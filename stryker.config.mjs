// @ts-check
/**
 * StrykerJS for `npm run mutate` (scripts/mutate.mjs runs it once per part, with --mutate,
 * --incrementalFile and STRYKER_TESTS set for that part, under `nice -n 19`). Run by hand, e.g.:
 *   STRYKER_TESTS='test/core/**' nice -n 19 npx stryker run --mutate 'core/monitor/**' --incremental
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.stryker.config.ts", related: false },
  // Each mutant runs only the tests that executed its code in the dry run (and stops at the first
  // failure), so a part's cost is its mutants times the few tests that reach them.
  coverageAnalysis: "perTest",
  mutate: ["core/**/*.ts", "scenarios/**/invariants.ts", "real/image/**/*.ts", "!**/index.ts"],
  // Re-runs retest only mutants whose code or covering tests changed since the last run; the
  // file stays in reports/ (not in git). scripts/mutate.mjs keeps one file per part.
  incremental: true,
  // "Static" mutants (module constants and tables, run once at import) cannot take effect in the
  // shared vitest worker (isolate: false, which keeps modules loaded between mutants), and each
  // reruns every test of its part: in scenarios/invariants 729 of 867 were static and Stryker
  // estimated 24 h. They are reported as "ignored", outside the score; STRYKER_ISOLATE=1 with
  // --ignoreStatic false runs them in fresh modules (see docs/mutation.md).
  ignoreStatic: true,
  incrementalFile: "reports/mutation/stryker-incremental.json",
  // Two test processes: the machine has two cores shared with other sessions (nice keeps them
  // responsive; see scripts/mutate.mjs).
  concurrency: 2,
  // A mutant's budget is twice its tests' dry-run time plus 5 s: enough for a loaded machine's
  // jitter, short enough that infinite-loop mutants (counted as detected) do not dominate the run.
  timeoutFactor: 2,
  timeoutMS: 5_000,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowEmojis: false, logTests: false, reportMutants: true, reportScoreTable: true },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
  ignorePatterns: ["dist", "reports", "coverage", "*.db", "*.db-wal", "*.db-shm", ".stryker-tmp", "tmp", "test-artifacts"],
  thresholds: { high: 90, low: 80, break: null },
};
