import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EMULAB_FIXTURES } from "../fixtures/emulab.js";

/**
 * A plain clone runs `npm test` with nothing beside it: no test reads the shared folder next to the
 * repository, and every fixture copied into the repository says where it came from.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OUTSIDE = /(\.\.\/)+shared\/|\/work\/shared|shared\/fixtures/;

function testSources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...testSources(path));
    else if (/\.(ts|mjs|js)$/.test(name)) out.push(path);
  }
  return out;
}

/** Lines outside comments, where a path would actually be read. */
function codeLines(path: string): { line: number; text: string }[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .map((text, i) => ({ line: i + 1, text }))
    .filter(({ text }) => !/^\s*(\/\/|\*|\/\*)/.test(text));
}

describe("the tests are self-contained", () => {
  it("no test reads files from the shared folder beside the repository", () => {
    const found: string[] = [];
    for (const path of [...testSources(join(ROOT, "test")), join(ROOT, "vitest.config.ts")]) {
      for (const { line, text } of codeLines(path)) if (OUTSIDE.test(text)) found.push(`${relative(ROOT, path)}:${line}: ${text.trim()}`);
    }
    expect(found).toEqual([]);
  });

  it("every copied Emulab fixture has its row in test/fixtures/emulab/README.md", () => {
    const readme = readFileSync(join(EMULAB_FIXTURES, "README.md"), "utf8");
    const missing = readdirSync(EMULAB_FIXTURES).filter((name) => name !== "README.md" && !readme.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
