import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadScenario } from "../../scenarios/runner.js";
import { README_BLOCKS, maskWallClock, type Runner } from "./blocks.js";

/**
 * The README's generated blocks say what the commands print today. Quick rows run with every
 * `npm test`; `README_FULL=1` runs the slow rows too, and README_HEAVY=1 the blocks that take tens
 * of minutes; `npm run readme` (README_UPDATE=1) rewrites the blocks from fresh runs instead of
 * comparing; README_ONLY=id,... limits any of these to some blocks.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const README = join(ROOT, "README.md");
const CLI = join(ROOT, "dist/bin/testbed.js");
const UPDATE = process.env.README_UPDATE === "1";
const FULL = UPDATE || process.env.README_FULL === "1";
/** The blocks that take tens of minutes (10,000-client plans, 3,000-client packet runs). */
const HEAVY = process.env.README_HEAVY === "1";
/** README_ONLY=id,id runs only those blocks (to regenerate one after a change). */
const ONLY = process.env.README_ONLY?.split(",").map((id) => id.trim()) ?? null;
/** A slow block (the 100,000-node monitor plans) takes minutes on a loaded machine. */
const SLOW_TIMEOUT_MS = 30 * 60_000;
/** A heavy block (bench delta's 1 GiB disk against three tools) takes most of an hour when loaded. */
const HEAVY_TIMEOUT_MS = 120 * 60_000;

const scratch = mkdtempSync(join(tmpdir(), "testbed-readme-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
cpSync(join(ROOT, "scenarios"), join(scratch, "scenarios"), { recursive: true, filter: (src) => !src.endsWith(".ts") });

/** Runs without blocking the worker: some runs take a minute. */
const run: Runner = Object.assign(
  (args: readonly string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [CLI, ...args], { cwd: scratch, encoding: "utf8", maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
        if (error === null) resolve(stdout);
        else reject(new Error(`testbed ${args.join(" ")} failed (${String(error.code)}): ${stderr.trim()}`));
      });
    }),
  {
    write: (path: string, text: string): void => {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    },
    read: (path: string): string => readFileSync(join(scratch, path), "utf8"),
  },
);

const markers = (id: string): RegExp => new RegExp(`(<!-- generated:${id} [^>]*-->\\n)([\\s\\S]*?)\\n(<!-- /generated:${id} -->)`);

function blockText(readme: string, id: string): string | null {
  return markers(id).exec(readme)?.[2] ?? null;
}

const fresh = new Map<string, string>();
afterAll(() => {
  if (!UPDATE || fresh.size === 0) return;
  let readme = readFileSync(README, "utf8");
  for (const [id, text] of fresh) readme = readme.replace(markers(id), (_, open: string, __: string, close: string) => `${open}${text}\n${close}`);
  // Whole or not at all: a temp name beside it, then rename.
  const temp = `${README}.${process.pid}.tmp`;
  writeFileSync(temp, readme);
  renameSync(temp, README);
});

describe("the README's figures", () => {
  const readme = readFileSync(README, "utf8");

  it("has a place for every generated block, and a block for every place", () => {
    const places = [...readme.matchAll(/<!-- generated:([\w-]+) /g)].map((m) => m[1]);
    expect([...places].sort()).toEqual(README_BLOCKS.map((b) => b.id).sort());
    for (const b of README_BLOCKS) expect(blockText(readme, b.id), `the end marker of ${b.id}`).not.toBeNull();
  });

  for (const block of README_BLOCKS) {
    const notOnly = ONLY !== null && !ONLY.includes(block.id);
    const skip = notOnly || (block.slowOnly === true && !FULL) || (block.heavy === true && !HEAVY);
    const why = notOnly ? " (not in README_ONLY)" : block.heavy === true && !HEAVY ? " (heavy: README_HEAVY=1)" : block.slowOnly === true && !FULL ? " (slow: README_FULL=1)" : "";
    it.skipIf(skip)(`${block.id}: what the commands print${why}`, { timeout: block.heavy === true ? HEAVY_TIMEOUT_MS : FULL ? SLOW_TIMEOUT_MS : 180_000 }, async () => {
      const text = await block.render(run, !FULL);
      if (UPDATE) {
        fresh.set(block.id, text);
        return;
      }
      const ours = maskWallClock(blockText(readme, block.id) ?? "");
      const theirs = maskWallClock(text);
      const hint = "the README no longer says what the command prints: run `npm run readme` and read the diff";
      if (FULL) {
        expect(ours, hint).toBe(theirs);
      } else {
        // Quick: the rows computed must stand in the README as they are (the slow rows are not run).
        const lines = new Set(ours.split("\n"));
        const missing = theirs.split("\n").filter((l) => !lines.has(l));
        expect(missing, hint).toEqual([]);
      }
    });
  }
});

describe("the README's scenario example", () => {
  it("is a scenario the reader accepts, comments aside", () => {
    const example = /```jsonc\n([\s\S]*?)```/.exec(readFileSync(README, "utf8"))?.[1];
    expect(example, "a jsonc block in the README").toBeDefined();
    const file = join(scratch, "readme-example.json");
    writeFileSync(file, (example ?? "").replace(/\/\/[^\n]*/g, ""));
    const scenario = loadScenario(file);
    expect(scenario.name).toBe("example");
    expect(scenario.hosts.length).toBe(201);
  });
});

describe("the wall-clock mask", () => {
  it("blanks marked columns and sim's wall figures, and nothing else", () => {
    const table = ["| a | wall † | b |", "| --- | --- | --- |", "| 1 | 0.5 s | 7 |", "", "| c |", "| --- |", "| 0.5 s |"].join("\n");
    expect(maskWallClock(table)).toBe(["| a | wall † | b |", "| --- | --- | --- |", "| 1 | … | 7 |", "", "| c |", "| --- |", "| 0.5 s |"].join("\n"));
    expect(maskWallClock("trace: ab  events: 5  simulated: 20s  wall: 0.54s  (1441270 events/s)")).toBe("trace: ab  events: 5  simulated: 20s  wall: … (… events/s)");
    expect(maskWallClock("| 1 | 2 |")).toBe("| 1 | 2 |");
    expect(maskWallClock("trace: ab  events: 5  wall: 3.824 s  chart: x.svg")).toBe("trace: ab  events: 5  wall: … s  chart: x.svg");
    expect(maskWallClock("† measured on 2026-12-06 at load 3.1")).toBe("† …");
  });
});
