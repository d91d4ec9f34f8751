import { execFile } from "node:child_process";
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

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

/**
 * Runs a command without blocking this worker (a build under load can take a minute, and a blocked
 * worker misses vitest's own messages), as a user's shell would: no npm_* variables inherited from
 * `npm test`, offline.
 */
function run(command: string, ...args: string[]): Promise<Ran> {
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
  return exec(command, args, { cwd: clone, env });
}

function exec(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { ...options, encoding: "utf8", timeout: 300_000 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      resolve({ status, stdout, stderr, ...(error !== null && typeof error.code !== "number" ? { error } : {}) });
    });
  });
}

function expectVersion(r: Ran): void {
  expect(r.error, String(r.error)).toBeUndefined();
  expect(r.stdout.trim(), `exit ${r.status}: ${r.stderr}`).toBe(VERSION);
  expect(r.status).toBe(0);
}

/**
 * Two builds and two npx runs: on a loaded machine each build alone may take a minute or two, so
 * the tests wait as long as their commands may (exec's own limit), not vitest's default 120 s.
 */
const BUILDS_MS = 2 * 300_000 + 60_000;

describe("a fresh clone", { timeout: BUILDS_MS }, () => {
  it("builds a testbed command that can be executed directly", async () => {
    const build = await run("npm", "run", "build");
    expect(build.status, build.stderr).toBe(0);
    const bin = join(clone, "dist/bin/testbed.js");
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    expectVersion(await exec(bin, ["--version"]));
  });

  it("runs `npx testbed --version` as the README says, also after dist is built again", async () => {
    expectVersion(await run("npx", "testbed", "--version"));
    // npx keeps a link to the project in its cache and marks the file executable only when it makes
    // that link; a rebuilt dist (or a clone at the same place) is run through the existing link.
    rmSync(join(clone, "dist"), { recursive: true, force: true });
    expect((await run("npm", "run", "build")).status).toBe(0);
    expectVersion(await run("npx", "testbed", "--version"));
  });
});
