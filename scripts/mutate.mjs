#!/usr/bin/env node
/**
 * `npm run mutate [-- PART ...] [-- --concurrency N]`: StrykerJS over core/, the scenarios'
 * invariants and the image readers and writers, one part (folder) at a time, each with the test
 * files that exercise it (see PARTS), so that a loaded machine runs one small job after another.
 * Prints each part's mutation score and run time, and the whole; the reports stay in
 * reports/mutation/<part>.json (open them with any Stryker report viewer). Not part of `npm test`.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";

/** Each part: what to mutate and the test files that may kill its mutants. */
export const PARTS = [
  { name: "core/engine", mutate: ["core/engine/**/*.ts"], tests: ["test/core/engine/**/*.test.ts"] },
  { name: "core/frisbee", mutate: ["core/frisbee/**/*.ts"], tests: ["test/core/frisbee/**/*.test.ts"] },
  { name: "core/sync", mutate: ["core/sync/**/*.ts"], tests: ["test/core/sync/**/*.test.ts"] },
  { name: "core/monitor", mutate: ["core/monitor/**/*.ts"], tests: ["test/core/monitor/**/*.test.ts"] },
  { name: "core/image", mutate: ["core/image/**/*.ts"], tests: ["test/core/image/**/*.test.ts"] },
  { name: "core/service", mutate: ["core/service/**/*.ts"], tests: ["test/core/service/**/*.test.ts"] },
  { name: "core/experiment", mutate: ["core/experiment/**/*.ts"], tests: ["test/core/experiment/**/*.test.ts"] },
  {
    name: "scenarios/invariants",
    mutate: ["scenarios/invariants.ts", "scenarios/*/invariants.ts"],
    tests: ["test/scenarios/invariants.test.ts", "test/scenarios/frisbee.test.ts", "test/scenarios/sync.test.ts", "test/scenarios/frisbee-invariants.test.ts"],
  },
  { name: "real/image", mutate: ["real/image/**/*.ts"], tests: ["test/real/image/chunk.test.ts", "test/real/image/create.test.ts", "test/real/image/unzip.test.ts"] },
];

const args = process.argv.slice(2);
const concurrencyAt = args.indexOf("--concurrency");
const concurrency = concurrencyAt >= 0 ? args.splice(concurrencyAt, 2)[1] : "1";
const unknown = args.filter((a) => !PARTS.some((p) => p.name === a));
if (unknown.length > 0) {
  console.error(`mutate: unknown part ${unknown.join(", ")} (known: ${PARTS.map((p) => p.name).join(", ")})`);
  process.exit(2);
}
const chosen = args.length === 0 ? PARTS : PARTS.filter((p) => args.includes(p.name));

mkdirSync("reports/mutation", { recursive: true });
const rows = [];
const started = Date.now();
for (const part of chosen) {
  const tests = part.tests.filter((t) => t.includes("*") || existsSync(t));
  const t0 = Date.now();
  const run = spawnSync("npx", ["stryker", "run", "--mutate", part.mutate.join(","), "--concurrency", concurrency], {
    stdio: "inherit",
    env: { ...process.env, STRYKER_TESTS: tests.join(",") },
  });
  const seconds = (Date.now() - t0) / 1000;
  if (run.status !== 0) {
    rows.push({ part: part.name, seconds, error: `stryker exited ${run.status}` });
    continue;
  }
  const file = `reports/mutation/${part.name.replace(/\//g, "-")}.json`;
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
  return { mutants: valid, killed: n.Killed, timeout: n.Timeout, survived: n.Survived, noCoverage: n.NoCoverage, score: valid === 0 ? 100 : (100 * detected) / valid };
}

const lines = [
  "| part | mutants | killed | timed out | survived | no coverage | score | time |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) =>
    r.error !== undefined
      ? `| ${r.part} | ${r.error} | | | | | | ${r.seconds.toFixed(0)} s |`
      : `| ${r.part} | ${r.mutants} | ${r.killed} | ${r.timeout} | ${r.survived} | ${r.noCoverage} | ${r.score.toFixed(1)}% | ${r.seconds.toFixed(0)} s |`,
  ),
  `\nwhole run: ${total.toFixed(0)} s, load average ${(await import("node:os")).loadavg().map((l) => l.toFixed(1)).join(" ")}`,
];
writeFileSync("reports/mutation/summary.md", lines.join("\n") + "\n");
console.log(lines.join("\n"));
process.exit(rows.some((r) => r.error !== undefined) ? 1 : 0);
