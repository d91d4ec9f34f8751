import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function sources(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) out.push(path);
    }
  };
  walk(join(ROOT, folder));
  return out;
}

/** Code lines only: comments may name what they avoid. */
function codeLines(path: string): { line: number; text: string }[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .map((text, i) => ({ line: i + 1, text }))
    .filter(({ text }) => !/^\s*(\/\/|\*|\/\*)/.test(text));
}

function imports(path: string): string[] {
  const found: string[] = [];
  for (const m of readFileSync(path, "utf8").matchAll(/(?:import|export)[^'"]*?from\s+["']([^"']+)["']/g)) found.push(m[1] as string);
  return found;
}

/** APIs that would make core/ read a clock, draw ambient randomness, schedule on its own or do I/O. */
const BANNED: readonly [string, RegExp][] = [
  ["Date", /\bDate\b/],
  ["Math.random", /Math\.random/],
  ["setTimeout", /\bsetTimeout\b/],
  ["setInterval", /\bsetInterval\b/],
  ["setImmediate", /\bsetImmediate\b/],
  ["queueMicrotask", /\bqueueMicrotask\b/],
  ["performance", /\bperformance\b/],
  ["process", /\bprocess\./],
  ["require", /\brequire\(/],
  ["console", /\bconsole\./],
  ["Promise", /\bPromise\b|\basync\b|\bawait\b/],
];

describe("core/ stays deterministic and free of I/O", () => {
  it("uses no clock, ambient randomness, timers, process, console or promises", () => {
    const hits: string[] = [];
    for (const file of sources("core")) {
      for (const { line, text } of codeLines(file)) {
        for (const [name, pattern] of BANNED) {
          if (pattern.test(text)) hits.push(`${relative(ROOT, file)}:${line}: ${name}`);
        }
      }
    }
    expect(hits).toEqual([]);
  });

  it("imports nothing outside core/ except seedrandom", () => {
    const bad: string[] = [];
    for (const file of sources("core")) {
      for (const spec of imports(file)) {
        if (spec === "seedrandom") continue;
        if (!spec.startsWith(".")) bad.push(`${relative(ROOT, file)}: ${spec}`);
        else if (!relative(join(ROOT, "core"), join(file, "..", spec)).split("/").every((p) => p !== "..")) {
          bad.push(`${relative(ROOT, file)}: ${spec}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});

describe("dependencies point one way: bin -> scenarios -> sim | real -> core", () => {
  const rules: [string, string[]][] = [
    ["sim", ["real", "scenarios", "bin"]],
    ["real", ["sim", "scenarios", "bin"]],
    ["scenarios", ["bin"]],
  ];
  for (const [folder, forbidden] of rules) {
    it(`${folder}/ imports nothing from ${forbidden.join(", ")}`, () => {
      const bad: string[] = [];
      for (const file of sources(folder)) {
        for (const spec of imports(file)) {
          if (!spec.startsWith(".")) continue;
          const target = relative(ROOT, join(file, "..", spec)).split("/")[0] as string;
          if (forbidden.includes(target)) bad.push(`${relative(ROOT, file)} imports ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }
});

describe("sync: each part in its world's folder", () => {
  it("installs into a World only from sim/sync, and builds its wall-clock Env only through real/runtime", () => {
    const bad: string[] = [];
    for (const file of sources("scenarios/sync")) {
      for (const { line, text } of codeLines(file)) if (/\.install\(|new World\b/.test(text)) bad.push(`${relative(ROOT, file)}:${line}: an installer outside sim/`);
    }
    for (const file of sources("real/sync")) {
      for (const { line, text } of codeLines(file)) {
        if (/hrtime|new WallTimers|wallClock\(|createRng\(/.test(text)) bad.push(`${relative(ROOT, file)}:${line}: a clock, timers or Rng of its own`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe("the banned-API check itself", () => {
  it("flags a line that reads the clock", () => {
    const [, pattern] = BANNED.find(([name]) => name === "Date") as [string, RegExp];
    expect(pattern.test("const t = Date.now();")).toBe(true);
    expect(pattern.test("const updated = 1;")).toBe(false);
  });
});

describe("the layout", () => {
  const rel = (file: string): string => relative(ROOT, file);

  it("keeps the machinery that installs machines into a World in sim/, not scenarios/", () => {
    // scenarios/sync/build.ts moves into sim/ with the sync conformance suite, in its own change.
    const allowed = new Set(["scenarios/sync/build.ts"]);
    const hits: string[] = [];
    for (const file of sources("scenarios")) {
      if (allowed.has(rel(file))) continue;
      for (const { line, text } of codeLines(file)) if (/\.install\(|new World\(/.test(text)) hits.push(`${rel(file)}:${line}`);
    }
    expect(hits).toEqual([]);
  });

  it("keeps the chunk model in sim/frisbee/chunk-model, split by side", () => {
    const here = sources("sim/frisbee/chunk-model").map(rel).sort();
    expect(here).toEqual(expect.arrayContaining(["sim/frisbee/chunk-model/clients.ts", "sim/frisbee/chunk-model/containers.ts", "sim/frisbee/chunk-model/server.ts"]));
    expect(sources("scenarios").map(rel).filter((f) => /chunk-model/.test(f))).toEqual([]);
  });

  it("reads the wall and epoch clocks in real/ only through real/runtime", () => {
    const hits: string[] = [];
    for (const file of sources("real")) {
      if (rel(file).startsWith("real/runtime/") || rel(file).startsWith("real/sync/")) continue;
      for (const { line, text } of codeLines(file)) if (/\bDate\.now\(|process\.hrtime/.test(text)) hits.push(`${rel(file)}:${line}`);
    }
    expect(hits).toEqual([]);
  });

  it("names the default store path once", () => {
    const hits: string[] = [];
    for (const folder of ["bin", "real", "scenarios", "sim"]) {
      for (const file of sources(folder)) {
        for (const { text } of codeLines(file)) if (/=\s*"\.\/testbed\.db"/.test(text)) hits.push(rel(file));
      }
    }
    // The file, not the line: a line number would break on every import added above it.
    expect(hits).toEqual(["real/store/default-path.ts"]);
  });
});

describe("the machines and their world", () => {
  it("keeps the wire's encoding and addresses out of the Frisbee machines (the network encodes)", () => {
    const hits: string[] = [];
    for (const file of ["core/frisbee/server.ts", "core/frisbee/client.ts"]) {
      for (const { line, text } of codeLines(join(ROOT, file))) if (/encodeMessages|srcIp|\bencode\(/.test(text)) hits.push(`${file}:${line}`);
    }
    expect(hits).toEqual([]);
  });

  it("gives the Frisbee and monitor machines their times in microseconds: no option, field or parameter in seconds", () => {
    const hits: string[] = [];
    for (const file of [...sources("core/frisbee"), ...sources("core/monitor")]) {
      // The wire's fields are the original's whole seconds; only the message model and codec hold them.
      if (/core\/frisbee\/(messages|codec)\.ts$/.test(file)) continue;
      for (const { line, text } of codeLines(file)) if (/\b[a-z]\w*Sec\??:\s*number/.test(text)) hits.push(`${relative(ROOT, file)}:${line}: ${text.trim()}`);
    }
    expect(hits).toEqual([]);
  });
});
