#!/usr/bin/env node
/**
 * `npm run mutate [-- PART ...] [-- --concurrency N]`: StrykerJS over every folder of core/, the scenarios'
 * invariants and the image readers and writers, one part (folder) at a time, each with the test
 * files that exercise it (see PARTS), under nice -n 19 with 2 test processes, incrementally: a
 * re-run after adding tests retests only the mutants whose code or tests changed
 * (reports/mutation/incremental-<part>.json, not in git; delete it for a full run).
 * Prints each part's mutation score and run time, and the whole; the reports stay in
 * reports/mutation/<part>.json (open them with any Stryker report viewer). Not part of `npm test`.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";

/**
 * The tests of a core part: its own unit tests (test/core/<folder>), fast and aimed at it, plus the
 * few others named in MORE_TESTS where a folder's behaviour is checked elsewhere. Not the CLI,
 * real or integration tests: they run the compiled program in another process (where no mutant is
 * active) or take seconds each, and every mutant reached by a test reruns it.
 */
const MORE_TESTS = {};
const coreTests = (name) => [`test/core/${name}/**/*.test.ts`, ...(MORE_TESTS[name] ?? [])];
/**
 * Test files of a core folder left out of its part: World simulations of seconds each whose
 * behaviour the folder's machine-level tests pin input by input. Every surviving mutant reran
 * them all; on the shared machine core/frisbee tested 16 mutants a minute with them. Leaving
 * tests out can only lower a score.
 */
const LEFT_OUT = { frisbee: ["test/core/frisbee/machines.test.ts"] };

/** Each part: what to mutate and the test files that may kill its mutants. Every folder of core/
 * is a part of its own, including folders added later. */
export const PARTS = [
  ...readdirSync("core", { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => ({ name: `core/${name}`, mutate: [`core/${name}/**/*.ts`, `!core/${name}/**/index.ts`], tests: coreTests(name), exclude: LEFT_OUT[name] ?? [] })),
  {
    name: "scenarios/invariants",
    mutate: ["scenarios/invariants.ts", "scenarios/*/invariants.ts"],
    tests: [
      "test/scenarios/invariant-ledgers.test.ts", "test/scenarios/frisbee-invariant-edges.test.ts", "test/scenarios/sync-invariant-edges.test.ts",
      "test/scenarios/invariants.test.ts", "test/scenarios/frisbee.test.ts",
      "test/scenarios/sync.test.ts", "test/scenarios/frisbee-invariants.test.ts",
    ],
  },
  // The image readers and writers (chunks, headers, compressor, writer, create, reload, signature,
  // delta, identity, allocation), with the tests that call them in-process. Left out: the
  // benchmarks (bench.ts, delta-bench.ts, disklike.ts, compare.ts) and the node swap commands
  // (swap.ts), which their tests run as programs in other processes, where no mutant is active.
  {
    name: "real/image",
    mutate: ["real/image/**/*.ts", "!real/image/index.ts", "!real/image/bench.ts", "!real/image/delta-bench.ts", "!real/image/disklike.ts", "!real/image/compare.ts", "!real/image/swap.ts"],
    tests: [
      "test/real/image/chunk.test.ts", "test/real/image/create.test.ts", "test/real/image/delta.test.ts", "test/real/image/create-fs.test.ts",
      "test/real/image/signature-order.test.ts", "test/real/image/source.test.ts", "test/real/image/identity.test.ts", "test/real/image/chunk-edges.test.ts",
      "test/real/image/reload-edges.test.ts", "test/real/image/create-edges.test.ts", "test/real/image/delta-edges.test.ts",
    ],
  },
];

const args = process.argv.slice(2);
const concurrencyAt = args.indexOf("--concurrency");
const concurrency = concurrencyAt >= 0 ? args.splice(concurrencyAt, 2)[1] : "2";
const unknown = args.filter((a) => !PARTS.some((p) => p.name === a));
if (unknown.length > 0) {
  console.error(`mutate: unknown part ${unknown.join(", ")} (known: ${PARTS.map((p) => p.name).join(", ")})`);
  process.exit(2);
}
// In the order given (smaller parts first gives their scores sooner).
const chosen = args.length === 0 ? PARTS : args.map((name) => PARTS.find((p) => p.name === name));

mkdirSync("reports/mutation", { recursive: true });
const rows = [];
const started = Date.now();
for (const part of chosen) {
  const tests = part.tests.filter((t) => t.includes("*") || existsSync(t));
  const t0 = Date.now();
  const slug = part.name.replace(/\//g, "-");
  // nice -n 19: the machine's two cores are shared; other sessions stay responsive.
  const run = spawnSync(
    "nice",
    ["-n", "19", "npx", "stryker", "run", "--mutate", part.mutate.join(","), "--concurrency", concurrency,
      "--incremental", "--incrementalFile", `reports/mutation/incremental-${slug}.json`],
    { stdio: "inherit", env: { ...process.env, STRYKER_TESTS: tests.join(","), STRYKER_EXCLUDE: (part.exclude ?? []).join(",") } },
  );
  const seconds = (Date.now() - t0) / 1000;
  if (run.status !== 0) {
    rows.push({ part: part.name, seconds, error: `stryker exited ${run.status}` });
    continue;
  }
  const file = `reports/mutation/${slug}.json`;
  copyFileSync("reports/mutation/mutation.json", file);
  rows.push({ part: part.name, seconds, ...score(JSON.parse(readFileSync(file, "utf8"))) });
}
const total = (Date.now() - started) / 1000;

/** Mutation score as Stryker counts it: detected (killed or timed out) over valid mutants. */
function score(report) {
  const n = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0, CompileError: 0, RuntimeError: 0 };
  for (const f of Object.values(report.files)) for (const m of f.mutants) n[m.status] = (n[m.status] ?? 0) + 1;
  const detected = n.Killed + n.Timeout;
  const valid = detected + n.Survived + n.NoCoverage;
  return { mutants: valid, killed: n.Killed, timeout: n.Timeout, survived: n.Survived, noCoverage: n.NoCoverage, ignored: n.Ignored, score: valid === 0 ? 100 : (100 * detected) / valid };
}

/** The parts added up, scored the same way (detected over valid mutants of every part). */
function totalOf(measured) {
  const sum = (key) => measured.reduce((a, r) => a + r[key], 0);
  const t = { mutants: sum("mutants"), killed: sum("killed"), timeout: sum("timeout"), survived: sum("survived"), noCoverage: sum("noCoverage"), ignored: sum("ignored"), seconds: sum("seconds") };
  return { ...t, score: t.mutants === 0 ? 100 : (100 * (t.killed + t.timeout)) / t.mutants };
}
const measured = rows.filter((r) => r.error === undefined);
const row = (name, r) =>
  `| ${name} | ${r.mutants} | ${r.killed} | ${r.timeout} | ${r.survived} | ${r.noCoverage} | ${r.ignored} | ${r.score.toFixed(1)}% | ${r.seconds.toFixed(0)} s |`;

const lines = [
  "| part | mutants | killed | timed out | survived | no coverage | ignored (static) | score | time |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) => (r.error !== undefined ? `| ${r.part} | ${r.error} | | | | | | | ${r.seconds.toFixed(0)} s |` : row(r.part, r))),
  ...(measured.length > 1 ? [row("**all measured parts**", totalOf(measured))] : []),
  `\nwhole run: ${total.toFixed(0)} s, load average ${(await import("node:os")).loadavg().map((l) => l.toFixed(1)).join(" ")}`,
];
writeFileSync("reports/mutation/summary.md", lines.join("\n") + "\n");
console.log(lines.join("\n"));
process.exit(rows.some((r) => r.error !== undefined) ? 1 : 0);
