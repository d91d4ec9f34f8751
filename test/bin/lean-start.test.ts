import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import { afterAll, describe, expect, it, vi } from "vitest";
import { run, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";
import { CLI, ROOT } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

/*
 * Issue 12: a command loads only the modules it uses (bin/program.ts builds a lean program per
 * command name; bin/failure.ts classifies errors without importing the code that throws them).
 */

type ProgramModule = typeof import("../../bin/program.js");
const { buildProgram, LEAN_NAMES } = (await import(pathToFileURL(join(ROOT, "dist/bin/program.js")).href)) as ProgramModule;

const argvOf = (...args: string[]): string[] => ["node", "testbed", ...args];

/** Every command under `command`, with its path and its help, depth first in registration order. */
function tree(command: Command, path = command.name()): { path: string; help: string }[] {
  return [{ path, help: command.helpInformation() }, ...command.commands.flatMap((c) => tree(c, `${path} ${c.name()}`))];
}

const named = (program: Command, name: string): Command | undefined => program.commands.find((c) => c.name() === name || c.aliases().includes(name));

/** The node modules and project modules (from dist/) a run of testbed loads. */
async function modulesLoaded(cwd: string, ...args: string[]): Promise<{ code: number | null; modules: string[] }> {
  const hook = `export async function load(url, context, next) { if (url.startsWith("file:")) process.stderr.write("LOADED " + url + "\\n"); return next(url, context); }`;
  const register = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  const r = await run(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(register)}`, CLI, ...args], { cwd, timeoutMs: 60_000 });
  const modules = [...r.stderr.matchAll(/^LOADED file:\/\/(.*)$/gm)].map((m) => m[1]!.replace(ROOT, ""));
  return { code: r.code, modules };
}

const dir = mkdtempSync(join(tmpdir(), "testbed-lean-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lean start-up", () => {
  it("builds, for every command name, the same command (subcommands, options, help) as the whole program", async () => {
    const whole = await buildProgram(argvOf("--help"), "1.2.3");
    const names = whole.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      // A name no registrar declares would build the whole program: correct, but not lean.
      expect(LEAN_NAMES.has(name), `bin/program.ts: no registrar names "${name}"`).toBe(true);
      const lean = await buildProgram(argvOf(name, "--help"), "1.2.3");
      expect(lean.commands.length, name).toBeLessThan(whole.commands.length);
      expect(tree(named(lean, name)!), name).toEqual(tree(named(whole, name)!));
    }
  });

  it("builds no command at all for --version, and the whole program for an unknown name or --help", async () => {
    expect((await buildProgram(argvOf("--version"), "1.2.3")).commands).toEqual([]);
    const whole = (await buildProgram(argvOf("--help"), "1.2.3")).commands.length;
    expect((await buildProgram(argvOf("imgae", "unzip"), "1.2.3")).commands.length).toBe(whole);
    expect((await buildProgram(argvOf("--version", "sim"), "1.2.3")).commands.length).toBe(whole);
  });

  it("testbed --version loads commander and small modules only: no SQLite, no image code, no simulator", async () => {
    const r = await modulesLoaded(dir, "--version");
    expect(r.code).toBe(0);
    const ours = r.modules.filter((m) => m.startsWith("dist/"));
    expect(ours).toContain("dist/bin/failure.js");
    expect(ours.length).toBeLessThanOrEqual(20);
    expect(r.modules.filter((m) => /better-sqlite3|dist\/real\/(store\/store\.js|image\/(?!errors))|dist\/core\/|dist\/sim\//.test(m))).toEqual([]);
  });

  it("testbed image unzip loads the reload code, not the image writer, the delta maker, the benches or the store", async () => {
    const fixture = join(ROOT, "test/fixtures/emulab/disk-4mib.ndz");
    const r = await modulesLoaded(dir, "image", "unzip", fixture, join(dir, "disk.raw"));
    expect(r.code).toBe(0);
    expect(r.modules).toContain("dist/real/image/reload.js");
    const heavy = r.modules.filter((m) => /better-sqlite3|dist\/real\/store\/(?!default-path|store-error)|dist\/real\/image\/(create|delta|delta-bench|bench|swap|signature)\.js|dist\/core\/engine|dist\/sim\/|dist\/scenarios\/(?!reader|sweep\/seeds)/.test(m));
    expect(heavy).toEqual([]);
  });
});
