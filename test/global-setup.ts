import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The command-line tests run the compiled `testbed`; build it from the current sources first. */
export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.json"], {
    cwd: root,
    stdio: "inherit",
  });
}
