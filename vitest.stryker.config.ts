import { defineConfig } from "vitest/config";

/**
 * The test run Stryker uses for each part of `npm run mutate` (scripts/mutate.mjs): only the test
 * files that part names (STRYKER_TESTS, comma-separated globs), and no global setup. The
 * command-line tests run the compiled `testbed` in another process, where no mutant is active, so
 * they could not kill one and are left out.
 */
const tests = (process.env["STRYKER_TESTS"] ?? "test/core/**/*.test.ts").split(",").filter((g) => g !== "");

export default defineConfig({
  test: {
    include: tests,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
