import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * A build's version for gating queue work: the package version and a digest of the code. Two
 * workers give the same trace fingerprint for a job only if they run the same code, so jobs are
 * queued per version and a worker of another build never takes them.
 */
export interface BuildVersion {
  /** `0.1.0+3f2a9c1d07e4`: package version, then 12 hex digits of the code's digest. */
  readonly id: string;
  readonly packageVersion: string;
}

/** The folders whose code decides what a job computes; their TypeScript sources are digested. */
const CODE_FOLDERS = ["core", "sim", "scenarios", "real", "bin"] as const;
/** Most source files the digest reads: a guard against pointing it at a huge tree by mistake. */
const CODE_FILES_MAX = 20_000;

let cached: BuildVersion | null = null;

/** The running build's version (computed once per process). */
export function buildVersion(): BuildVersion {
  if (cached === null) cached = computeVersion(packageRoot());
  return cached;
}

/** The directory holding package.json, from this file's place in the sources or in dist/. */
export function packageRoot(): string {
  let dir = fileURLToPath(new URL(".", import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "core"))) return dir;
    dir = join(dir, "..");
  }
  // Installed without sources: dist/ sits under the package root.
  return fileURLToPath(new URL("../../..", import.meta.url));
}

export function computeVersion(root: string): BuildVersion {
  const packageVersion = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  const hash = createHash("sha256");
  const sources = CODE_FOLDERS.flatMap((folder) => filesUnder(join(root, folder), ".ts"));
  // Without the sources (a package installed from a tarball), the compiled code stands for them.
  const files = sources.length > 0 ? sources : filesUnder(join(root, "dist"), ".js");
  for (const file of files) {
    hash.update(relative(root, file));
    hash.update("\0");
    hash.update(readFileSync(file));
    hash.update("\0");
  }
  return { id: `${packageVersion}+${hash.digest("hex").slice(0, 12)}`, packageVersion };
}

/** Files ending in `suffix` under `dir`, in a fixed order (sorted paths), so the digest is stable. */
function filesUnder(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      if (name === "node_modules") continue;
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(suffix) && !name.endsWith(".d.ts")) {
        out.push(path);
        if (out.length > CODE_FILES_MAX) throw new Error(`${dir}: more than ${CODE_FILES_MAX} source files`);
      }
    }
  };
  walk(dir);
  return out;
}
