import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/**
 * What a new user does after cloning: `npm install` (whose `prepare` runs `npm run build`), then
 * `npx testbed --version` as the README says. Done in a scratch copy of the working tree (sources
 * only, node_modules linked) with its own npm cache, so that the repository's dist and the user's
 * ~/.npm are never touched while other suites run.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const NOT_COPIED = new Set(["node_modules", "dist", "test", ".git", ".ci", "coverage", "tmp"]);
const clone = mkdtempSync(join(tmpdir(), "testbed-clone-"));
afterAll(() => rmSync(clone, { recursive: true, force: true }));
cpSync(ROOT, clone, {
  recursive: true,
  filter: (src) => {
    const top = src.slice(ROOT.length).split("/")[0] ?? "";
    return !NOT_COPIED.has(top) && !/\.db(-wal|-shm)?$/.test(top);
  },
});
symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"), "dir");

/** npm and npx as a user's shell runs them: no npm_* variables inherited from `npm test`, offline. */
function run(command: string, ...args: string[]): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith("npm_")) env[k] = v;
  Object.assign(env, {
    HOME: join(clone, ".home"),
    npm_config_cache: join(clone, ".npm"),
    npm_config_offline: "true",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
  });
  return spawnSync(command, args, { cwd: clone, env, encoding: "utf8", timeout: 120_000 });
}

function expectVersion(r: SpawnSyncReturns<string>): void {
  expect(r.error, String(r.error)).toBeUndefined();
  expect(r.stdout.trim(), `exit ${r.status}: ${r.stderr}`).toBe(VERSION);
  expect(r.status).toBe(0);
}

describe("a fresh clone", () => {
  it("builds a testbed command that can be executed directly", () => {
    const build = run("npm", "run", "build");
    expect(build.status, build.stderr).toBe(0);
    const bin = join(clone, "dist/bin/testbed.js");
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    expectVersion(spawnSync(bin, ["--version"], { encoding: "utf8" }));
  });

  it("runs `npx testbed --version` as the README says, also after dist is built again", () => {
    expectVersion(run("npx", "testbed", "--version"));
    // npx keeps a link to the project in its cache and marks the file executable only when it makes
    // that link; a rebuilt dist (or a clone at the same place) is run through the existing link.
    rmSync(join(clone, "dist"), { recursive: true, force: true });
    expect(run("npm", "run", "build").status).toBe(0);
    expectVersion(run("npx", "testbed", "--version"));
  });
});
