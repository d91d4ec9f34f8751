import { readFileSync } from "node:fs";
import { Reader, ScenarioError, type Json } from "../reader.js";
import { decodePlanShard, PLAN_SHARD_FORMATS, type PlanShardFile } from "./plan-shards.js";
import { REPORT_FORMAT, type SweepReport } from "./report.js";
import type { SeedResult, Verdict } from "./run-seed.js";
import { SWEEP_SEEDS_MAX, SHARDS_MAX } from "./seeds.js";

/**
 * Reading a sweep report back (written by `testbed sweep --out` through real/output, whole or not at
 * all). It is checked field by field; a complaint names the file and the field, in one line.
 */
/** Largest report file read back (a million seeds take about 150 MB). */
export const REPORT_CHARS_MAX = 512 * 1024 * 1024;
const VERDICTS: readonly Verdict[] = ["pass", "fail", "crash", "invalid"];
const TEXT_CHARS_MAX = 4 * 1024 * 1024;

export function readReport(file: string): SweepReport {
  return decodeReport(new Reader(file, "", readJson(file)));
}

/** What `sweep merge` reads: a sweep's report, or a shard of a Frisbee or swap plan. */
export type MergeInput = { readonly kind: "sweep"; readonly report: SweepReport } | { readonly kind: "plan"; readonly shard: PlanShardFile };

export function readMergeInput(file: string): MergeInput {
  const top = new Reader(file, "", readJson(file));
  const format = top.object().format;
  if (typeof format === "string" && PLAN_SHARD_FORMATS.includes(format)) return { kind: "plan", shard: decodePlanShard(top) };
  if (format !== REPORT_FORMAT) {
    top.at("format").fail(`expected one of ${[REPORT_FORMAT, ...PLAN_SHARD_FORMATS].map((f) => `"${f}"`).join(", ")} (a file written by testbed sweep, plan frisbee or plan swap with --out)`);
  }
  return { kind: "sweep", report: decodeReport(top) };
}

function readJson(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ScenarioError(`${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : `cannot read (${code})`}`);
  }
  if (text.length > REPORT_CHARS_MAX) throw new ScenarioError(`${file}: larger than ${REPORT_CHARS_MAX} characters`);
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new ScenarioError(`${file}: not valid JSON (${(error as Error).message.replace(/\s+/g, " ")})`);
  }
}

function decodeReport(top: Reader): SweepReport {
  top.fields(["format", "version", "specId", "spec", "seeds", "shard", "results", "lost", "nondeterministic", "ranOn", "wallSeconds"]);
  if (top.at("format").string() !== REPORT_FORMAT) top.at("format").fail(`expected "${REPORT_FORMAT}" (a file written by testbed sweep --out)`);
  const spec = top.at("spec").fields(["file", "text", "varies"]);
  const seeds = top.at("seeds").fields(["first", "last"]);
  const shard = top.at("shard").fields(["index", "count"]);
  const first = seeds.at("first").number(0, Number.MAX_SAFE_INTEGER, true);
  const last = seeds.at("last").number(first, first + SWEEP_SEEDS_MAX - 1, true);
  const count = shard.at("count").number(1, SHARDS_MAX, true);
  return {
    format: REPORT_FORMAT,
    version: top.at("version").string(),
    specId: top.at("specId").string(),
    spec: {
      file: spec.at("file").string(),
      text: limited(spec.at("text")),
      varies: spec.at("varies").items().map((v) => v.string()),
    },
    seeds: { first, last },
    shard: { index: shard.at("index").number(1, count, true), count },
    results: top.at("results").items().map((r) => decodeResult(r, first, last)),
    lost: top.at("lost").items().map((r) => {
      r.fields(["seed", "reason"]);
      return { seed: r.at("seed").number(first, last, true), reason: r.at("reason").string() };
    }),
    nondeterministic: top.at("nondeterministic").items().map((r) => {
      r.fields(["seed", "fingerprints", "workers"]);
      return { seed: r.at("seed").number(first, last, true), fingerprints: r.at("fingerprints").items().map((f) => f.string()), workers: r.at("workers").items().map((w) => w.string()) };
    }),
    ranOn: top.at("ranOn").string(),
    wallSeconds: top.at("wallSeconds").number(0, Number.MAX_SAFE_INTEGER),
  };
}

function decodeResult(r: Reader, first: number, last: number): SeedResult {
  r.fields(["seed", "verdict", "fingerprint", "events", "simSeconds", "failed", "wallMs"]);
  return {
    seed: r.at("seed").number(first, last, true),
    verdict: r.at("verdict").oneOf(VERDICTS),
    fingerprint: r.at("fingerprint").string(),
    events: r.at("events").number(0, Number.MAX_SAFE_INTEGER, true),
    simSeconds: r.at("simSeconds").number(0, Number.MAX_SAFE_INTEGER),
    failed: r.at("failed").items().map((f) => f.string()),
    wallMs: r.at("wallMs").number(0, Number.MAX_SAFE_INTEGER),
  };
}

function limited(r: Reader): string {
  const s = r.string();
  if (s.length > TEXT_CHARS_MAX) r.fail(`longer than ${TEXT_CHARS_MAX} characters`);
  return s;
}
