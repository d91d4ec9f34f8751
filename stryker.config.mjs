// @ts-check
/**
 * StrykerJS for `npm run mutate` (scripts/mutate.mjs runs it once per part, with --mutate and
 * STRYKER_TESTS set for that part). Run by hand, e.g.:
 *   STRYKER_TESTS='test/core/monitor/**' npx stryker run --mutate 'core/monitor/**' --concurrency 1
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.stryker.config.ts", related: false },
  coverageAnalysis: "perTest",
  mutate: ["core/**/*.ts", "scenarios/**/invariants.ts", "real/image/**/*.ts", "!**/index.ts"],
  // The machine is shared: one test process by default (--concurrency N to change it).
  concurrency: 1,
  // A loaded machine runs tests several times slower than the dry run measured.
  timeoutFactor: 3,
  timeoutMS: 20_000,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowEmojis: false, logTests: false, reportMutants: true, reportScoreTable: true },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
  ignorePatterns: ["dist", "reports", "coverage", "*.db", "*.db-wal", "*.db-shm", ".stryker-tmp"],
  thresholds: { high: 90, low: 80, break: null },
};
