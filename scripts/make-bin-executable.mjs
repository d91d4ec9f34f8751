// tsc writes dist/bin/testbed.js as a plain 0644 file; `npx testbed` and a global install exec it
// directly, which fails with "Permission denied" unless it is executable. Run after every build:
// it marks each `bin` entry of package.json executable, and fails if one was not built.
import { chmodSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const bins = typeof pkg.bin === "string" ? [pkg.bin] : Object.values(pkg.bin ?? {});
for (const bin of bins) {
  const path = join(root, bin);
  let mode;
  try {
    mode = statSync(path).mode;
  } catch {
    console.error(`make-bin-executable: ${bin} (package.json "bin") was not built`);
    process.exit(1);
  }
  // Execute wherever there is read: 0644 becomes 0755.
  chmodSync(path, (mode & 0o777) | ((mode & 0o444) >> 2));
}
