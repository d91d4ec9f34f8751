import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // TESTBED_STALL_PROBE=FILE: each test's longest event-loop stall goes to FILE (test/support/stall-probe.ts).
    setupFiles: process.env["TESTBED_STALL_PROBE"] ? ["test/support/stall-probe.ts"] : [],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});
