import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Test files in the reverse of vitest's order: the quickest first (vitest runs the slowest first).
 * A mutant run stops at its first failing test, so a mutant that a unit test of milliseconds kills
 * no longer waits for the simulations of seconds that also reach it.
 */
class QuickestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const quickest = (await super.sort(files)).reverse();
    // A part that names its test files one by one (STRYKER_TESTS) runs them in that order: vitest's
    // timings live in node_modules/.vite, shared by every worktree and rewritten by each mutant
    // run (where tests fail), so they do not say which file is quick.
    const named = (f: TestSpecification): number => tests.findIndex((t) => f.moduleId.endsWith(`/${t}`));
    return quickest.every((f) => named(f) >= 0) ? quickest.sort((a, b) => named(a) - named(b)) : quickest;
  }
}

/**
 * The test run Stryker uses for each part of `npm run mutate` (scripts/mutate.mjs): only the test
 * files that part names (STRYKER_TESTS, comma-separated globs), and no global setup. The
 * command-line tests run the compiled `testbed` in another process, where no mutant is active, so
 * they could not kill one and are left out.
 * Run it by hand to see what the mutation run sees: STRYKER_TESTS='test/core/sync/**' npx vitest run -c vitest.stryker.config.ts
 */
const tests = (process.env["STRYKER_TESTS"] ?? "test/core/**/*.test.ts").split(",").filter((g) => g !== "");
/** Test files a part leaves out (STRYKER_EXCLUDE, comma-separated; scripts/mutate.mjs LEFT_OUT). */
const leftOut = (process.env["STRYKER_EXCLUDE"] ?? "").split(",").filter((g) => g !== "");

export default defineConfig({
  // Properties run at most STRYKER_NUM_RUNS cases each here (test/support/fast-check-capped.ts).
  resolve: { alias: [{ find: /^fast-check$/, replacement: fileURLToPath(new URL("test/support/fast-check-capped.ts", import.meta.url)) }] },
  test: {
    include: tests,
    exclude: [...configDefaults.exclude, ...leftOut],
    // One worker keeps its modules from run to run: a mutant run then costs its tests' time, not a
    // new thread importing every module again (seconds each on a loaded machine). Stryker switches
    // mutants at run time, so cached modules see each one; only "static" mutants (in code run once,
    // at import) cannot take effect in a cached module, so they may only survive, never be
    // counted as killed wrongly, and are triaged by hand (docs/mutation.md).
    // STRYKER_ISOLATE=1 (a run over a module's constants): static mutants then take effect.
    isolate: process.env["STRYKER_ISOLATE"] === "1",
    sequence: { sequencer: QuickestFirst },
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
