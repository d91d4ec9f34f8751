import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { INVARIANT_NAMES } from "../invariants.js";
import { ScenarioError, type Json } from "../reader.js";
import { parseScenario, type Scenario } from "../schema.js";
import { applyDrawn, drawVaries, parseVaries, VaryError, type Drawn, type Vary } from "./vary.js";

/**
 * What a sweep runs: the scenario file's name (for replay lines), its text (so a worker on another
 * machine needs no copy of the file) and the varies. Its id is a digest of all three, so a worker
 * can check the spec it fetched is the one a job names.
 */
export interface SweepSpec {
  readonly file: string;
  readonly text: string;
  readonly varies: readonly string[];
}

/** A scenario file larger than this is refused before it is sent to every worker. */
export const SPEC_TEXT_CHARS_MAX = 4 * 1024 * 1024;

export function specId(spec: SweepSpec): string {
  return createHash("sha256").update(JSON.stringify([spec.file, spec.text, spec.varies])).digest("hex").slice(0, 16);
}

/** A spec parsed once, ready to draw any seed's scenario. */
export interface PreparedSpec {
  readonly spec: SweepSpec;
  readonly id: string;
  readonly json: Json;
  readonly varies: readonly Vary[];
}

export function prepareSpec(spec: SweepSpec): PreparedSpec {
  let json: Json;
  try {
    json = JSON.parse(spec.text) as Json;
  } catch (error) {
    throw new ScenarioError(`${spec.file}: not valid JSON (${(error as Error).message.replace(/\s+/g, " ")})`);
  }
  return { spec, id: specId(spec), json, varies: parseVaries(spec.varies) };
}

/** The scenario a seed runs, with what it drew. A ScenarioError means the draw made it invalid. */
export function scenarioFor(p: PreparedSpec, seed: number): { scenario: Scenario; drawn: Drawn[] } {
  const drawn = drawVaries(p.varies, seed);
  return { scenario: parseScenario(JSON.stringify(applyDrawn(p.json, p.varies, drawn)), p.spec.file, INVARIANT_NAMES), drawn };
}

/** The scenario JSON a seed runs, the drawn values written in. */
export function drawnJson(p: PreparedSpec, seed: number): Json {
  return applyDrawn(p.json, p.varies, drawVaries(p.varies, seed));
}

/**
 * Reads a sweep's scenario and checks it before any job runs: the file parses, every vary names a
 * field that exists, and each range's ends (the others as the first seed draws them) still give a
 * valid scenario, so a range that overruns the scenario is one error now, not a failure per seed.
 */
export function readSweepSpec(file: string, varies: readonly string[], firstSeed: number): PreparedSpec {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ScenarioError(`${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : `cannot read (${code})`}`);
  }
  if (text.length > SPEC_TEXT_CHARS_MAX) throw new ScenarioError(`${file}: larger than ${SPEC_TEXT_CHARS_MAX} characters`);
  const p = prepareSpec({ file, text, varies });
  parseScenario(text, file, INVARIANT_NAMES);
  const first = drawVaries(p.varies, firstSeed);
  applyDrawn(p.json, p.varies, first); // Names a missing field on its own, before any range is tried.
  p.varies.forEach((v, i) => {
    for (const end of ends(v)) {
      const drawn = first.map((d, j) => (j === i ? end : d));
      try {
        parseScenario(JSON.stringify(applyDrawn(p.json, p.varies, drawn)), file, INVARIANT_NAMES);
      } catch (error) {
        if (!(error instanceof ScenarioError) || error instanceof VaryError) throw error;
        throw new VaryError(`--vary ${v.text}: ${describeEnd(end)} makes the scenario invalid: ${error.message}`);
      }
    }
  });
  return p;
}

function ends(v: Vary): Drawn[] {
  const r = v.range;
  if (r.kind === "choice") {
    return r.choices.map((c) => (c.kind === "value" ? { path: v.pathText, value: c.value } : { path: v.pathText, switched: c.kind }));
  }
  const value = (n: number): Json => (r.unit === "" ? n : `${n}${r.unit}`);
  return [{ path: v.pathText, value: value(r.lo) }, { path: v.pathText, value: value(r.hi) }];
}

function describeEnd(d: Drawn): string {
  return "switched" in d ? `"${d.switched}"` : JSON.stringify(d.value);
}
