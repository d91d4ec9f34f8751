import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";
import { CLI, type Ran } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

/*
 * Output into a closed pipe (`testbed image --help | head -1`, a reader that quits early) stops a
 * command quietly, as SIGPIPE stops other programs: no stack trace, exit 141, and nothing left
 * behind (temporary files removed, a store closed with no -wal or -shm beside it).
 */

const root = mkdtempSync(join(tmpdir(), "testbed-pipe-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Runs testbed with its stdout a pipe whose reading end is closed before the program starts
 * (a node process takes far longer to start than the close), so its first write meets EPIPE.
 */
function intoClosedPipe(cwd: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("close", (code, signal) => resolve({ code, signal, stdout: "", stderr }));
  });
}

/** Every command path, found from the help text: groups are those listed with "[command]". */
async function commandPaths(): Promise<string[][]> {
  const paths: string[][] = [];
  const walk = async (prefix: string[]): Promise<void> => {
    const help = (await runTestbed([...prefix, "--help"])).stdout;
    const listing = help.split("Commands:\n")[1] ?? "";
    for (const m of listing.matchAll(/^ {2}([a-z][^\n]*)$/gm)) {
      // "name [options] <args>   description": a term with no options and no arguments is a group.
      const term = (m[1] as string).split(/\s{2,}/)[0] as string;
      const name = term.split(/[| ]/)[0] as string;
      if (name === "help") continue;
      const path = [...prefix, name];
      paths.push(path);
      if (!term.includes(" ")) await walk(path);
    }
  };
  await walk([]);
  return paths;
}

describe("output into a closed pipe", () => {
  it("--help of every command: no stack trace, nothing on stderr, exit 141", async () => {
    const paths = await commandPaths();
    // The walk found the commands (a broken walk would make this test pass on nothing).
    expect(paths.length).toBeGreaterThan(30);
    expect(paths).toContainEqual(["image", "create"]);
    const failures: string[] = [];
    const queue = [[], ...paths];
    const worker = async (): Promise<void> => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const r = await intoClosedPipe(root, [...p, "--help"]);
        if (r.code !== 141 || r.stderr !== "") failures.push(`testbed ${p.join(" ")} --help: exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    expect(failures).toEqual([]);
  }, 300_000);

  it("a run that prints as it goes stops at once, stores nothing half-way and leaves no file beside the store", async () => {
    const d = mkdtempSync(join(root, "sim-"));
    writeFileSync(join(d, "s.json"), JSON.stringify({ seed: 1, duration: "1s", hosts: [{ name: "a" }, { name: "b" }], workloads: [{ type: "traffic", from: "a", to: "b", rate: "1Mbit", packet: "1000" }] }));
    const r = await intoClosedPipe(d, ["sim", "s.json", "--db", "runs.db"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 141, stderr: "" });
    // The store was opened (and checked) before the run; it is closed cleanly, its log folded in.
    expect(readdirSync(d).sort()).toEqual(["runs.db", "s.json"]);
    const runs = await runTestbed(["runs", "--db", "runs.db", "--json"], { cwd: d });
    expect(JSON.parse(runs.stdout)).toEqual({ runs: [] });
  }, 120_000);

  it("a plan's chart is whole or absent, never a temporary file", async () => {
    const d = mkdtempSync(join(root, "plan-"));
    const r = await intoClosedPipe(d, ["plan", "frisbee", "--clients", "1", "--svg", "c.svg", "--no-store"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 141, stderr: "" });
    const left = readdirSync(d);
    expect(left.filter((n) => n !== "c.svg")).toEqual([]);
  }, 120_000);
});
