import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The command-line tests run the compiled `testbed`; build it from the current sources first, as
 * `npm run build` does.
 * tsc emits even when it finds type errors; those are printed here and fail `npm run typecheck`
 * (which CI runs), but do not stop the tests of unrelated code from running.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
  const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    console.error("global setup: tsc reported errors (see above); the command-line tests run what it emitted");
  }
  if (!existsSync(`${root}dist/bin/testbed.js`)) throw new Error("global setup: tsc emitted no dist/bin/testbed.js");
  // The same last step as `npm run build`: the command must be executable, as npx runs it.
  const bin = spawnSync(process.execPath, [`${root}scripts/make-bin-executable.mjs`], { cwd: root, stdio: "inherit" });
  if (bin.status !== 0) throw new Error("global setup: scripts/make-bin-executable.mjs failed");
}
