import { createRng } from "../../core/engine/index.js";
import { ScenarioError, type Json } from "../reader.js";

/**
 * Swarm testing: each seed draws some of the scenario's parameters from ranges, so one sweep covers
 * many fault mixes. `--vary PATH=RANGE` names a field of the scenario file and what to draw:
 *
 * - `A..B`: a number from A to B, whole when both ends are written whole (`1..5`, both inclusive),
 *   else real (`0.0..0.05`, B excluded). Both ends may carry the same unit (`0ms..1500ms`, `1Mbit..
 *   50Mbit`); the drawn number is written back with it.
 * - `X|Y|Z`: one of the choices (or a single value, set for every seed), each JSON (`0.01|0.1`, `true|false`, `"uniform:2s"|"simultaneous"`)
 *   or a bare word; the bare word `off` removes the field (or the list item), `on` leaves it as is.
 *   `faults[2]=on|off` switches a fault on or off per seed.
 *
 * Each vary draws from its own stream, `sweep/<seed>/vary:<path>`, so adding a vary never shifts
 * another's draws, and a seed with its vary list replays the exact run.
 */
export type VaryRange =
  | { readonly kind: "whole" | "real"; readonly lo: number; readonly hi: number; readonly unit: string }
  | { readonly kind: "choice"; readonly choices: readonly VaryChoice[] };

export type VaryChoice = { readonly kind: "off" } | { readonly kind: "on" } | { readonly kind: "value"; readonly value: Json };

export type PathStep = string | number;

export interface Vary {
  /** As the user wrote it, for the replay command. */
  readonly text: string;
  readonly path: readonly PathStep[];
  readonly pathText: string;
  readonly range: VaryRange;
}

/** What one seed drew for one vary: a value written into the scenario, or `off`/`on`. */
export type Drawn = { readonly path: string; readonly value: Json } | { readonly path: string; readonly switched: "on" | "off" };

/** A vary that cannot be understood or applied: one line naming it (a scenario error: exit 2). */
export class VaryError extends ScenarioError {
  override readonly name = "VaryError";
}

/** Most varies one sweep takes, and most choices one vary lists. */
export const VARIES_MAX = 64;
export const VARY_CHOICES_MAX = 256;
const VARY_CHARS_MAX = 1_000;

const NUMBER_WITH_UNIT = /^(-?(?:\d+(?:\.\d*)?|\.\d+))([A-Za-z/%]*)$/;
const NAME_STEP = /^\.([A-Za-z_][A-Za-z0-9_-]*)/;
const INDEX_STEP = /^\[(\d{1,6})\]/;

export function parseVary(text: string): Vary {
  const fail = (why: string): never => {
    throw new VaryError(`--vary ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text)}: ${why}`);
  };
  if (text.length > VARY_CHARS_MAX) fail(`longer than ${VARY_CHARS_MAX} characters`);
  const eq = text.indexOf("=");
  if (eq < 0) fail("expected PATH=RANGE, like faults[0].at=1s..5s or faults[1]=on|off");
  const pathText = text.slice(0, eq).trim();
  const path = parsePath(pathText) ?? fail(`"${pathText}" is not a field path (names joined by dots, list items as [N])`);
  const rangeText = text.slice(eq + 1).trim();
  const range = parseRange(rangeText) ?? fail(`"${rangeText}" is not a range: expected A..B (same unit on both ends) or choices X|Y|Z`);
  if (range.kind !== "choice" && range.lo > range.hi) fail(`the range runs backwards (${range.lo} > ${range.hi})`);
  if (range.kind === "choice" && range.choices.length > VARY_CHOICES_MAX) fail(`more than ${VARY_CHOICES_MAX} choices`);
  return { text, path, pathText, range };
}

/** Parses every vary and refuses two on the same field. */
export function parseVaries(texts: readonly string[]): Vary[] {
  if (texts.length > VARIES_MAX) throw new VaryError(`--vary: at most ${VARIES_MAX} varies, got ${texts.length}`);
  const varies = texts.map(parseVary);
  const seen = new Set<string>();
  for (const v of varies) {
    if (seen.has(v.pathText)) throw new VaryError(`--vary: ${v.pathText} is varied twice`);
    seen.add(v.pathText);
  }
  return varies;
}

/** `name(.name|[N])*`: the scenario is an object, so a path starts with a field name. */
function parsePath(text: string): PathStep[] | null {
  const steps: PathStep[] = [];
  let rest = `.${text}`;
  while (rest.length > 0) {
    const name = NAME_STEP.exec(rest);
    const index = name === null && steps.length > 0 ? INDEX_STEP.exec(rest) : null;
    if (name === null && index === null) return null;
    steps.push(name !== null ? (name[1] as string) : Number((index as RegExpExecArray)[1]));
    rest = rest.slice((name ?? (index as RegExpExecArray))[0].length);
  }
  return steps;
}

function parseRange(text: string): VaryRange | null {
  const dots = text.split("..");
  if (dots.length === 2) {
    const lo = NUMBER_WITH_UNIT.exec((dots[0] as string).trim());
    const hi = NUMBER_WITH_UNIT.exec((dots[1] as string).trim());
    if (lo === null || hi === null || lo[2] !== hi[2]) return null;
    const whole = !(lo[1] as string).includes(".") && !(hi[1] as string).includes(".");
    return { kind: whole ? "whole" : "real", lo: Number(lo[1]), hi: Number(hi[1]), unit: lo[2] as string };
  }
  if (dots.length > 2) return null;
  const parts = text.split("|").map((p) => p.trim());
  if (parts.some((p) => p === "")) return null;
  return { kind: "choice", choices: parts.map(parseChoice) };
}

function parseChoice(text: string): VaryChoice {
  if (text === "off") return { kind: "off" };
  if (text === "on") return { kind: "on" };
  try {
    return { kind: "value", value: JSON.parse(text) as Json };
  } catch {
    return { kind: "value", value: text };
  }
}

/** What `seed` draws for each vary: a pure function of the seed and the vary's path and range. */
export function drawVaries(varies: readonly Vary[], seed: number): Drawn[] {
  const root = createRng(`sweep/${seed}`);
  return varies.map((v) => {
    const rng = root.fork(`vary:${v.pathText}`);
    const r = v.range;
    if (r.kind === "choice") {
      const choice = r.choices[rng.int(r.choices.length)] as VaryChoice;
      return choice.kind === "value" ? { path: v.pathText, value: choice.value } : { path: v.pathText, switched: choice.kind };
    }
    const n = r.kind === "whole" ? r.lo + rng.int(r.hi - r.lo + 1) : rng.uniform(r.lo, r.hi);
    return { path: v.pathText, value: r.unit === "" ? n : `${n}${r.unit}` };
  });
}

/** `path=value` as shown beside a failing seed. */
export function showDrawn(d: Drawn): string {
  if ("switched" in d) return `${d.path}=${d.switched}`;
  return `${d.path}=${typeof d.value === "string" ? d.value : JSON.stringify(d.value)}`;
}

/**
 * The scenario JSON with the drawn values written in: a copy, the input untouched. Items switched
 * off are removed after every value is set, from the highest index down, so paths keep meaning
 * what they meant in the file.
 */
export function applyDrawn(json: Json, varies: readonly Vary[], drawn: readonly Drawn[]): Json {
  const out = structuredClone(json);
  const removals: { container: Json[] | Record<string, Json>; key: PathStep }[] = [];
  varies.forEach((v, i) => {
    const d = drawn[i] as Drawn;
    const { container, key } = locate(out, v);
    if ("switched" in d) {
      if (d.switched === "off") removals.push({ container, key });
      return;
    }
    (container as Record<string | number, Json>)[key] = d.value;
  });
  const ordered = removals.sort((a, b) => (typeof b.key === "number" ? b.key : 0) - (typeof a.key === "number" ? a.key : 0));
  for (const { container, key } of ordered) {
    if (Array.isArray(container)) container.splice(key as number, 1);
    else delete container[key as string];
  }
  return out;
}

/** The object or list holding the path's last step; every step before it must exist. */
function locate(json: Json, v: Vary): { container: Json[] | Record<string, Json>; key: PathStep } {
  let node: Json = json;
  let where = "";
  for (let i = 0; i < v.path.length; i++) {
    const step = v.path[i] as PathStep;
    const last = i === v.path.length - 1;
    if (typeof step === "number") {
      if (!Array.isArray(node)) throw new VaryError(`--vary ${v.pathText}: ${where || "the scenario"} is not a list`);
      if (step >= node.length) throw new VaryError(`--vary ${v.pathText}: ${where} has ${node.length} items, no [${step}]`);
      if (last) return { container: node, key: step };
      node = node[step] as Json;
      where += `[${step}]`;
    } else {
      if (node === null || typeof node !== "object" || Array.isArray(node)) throw new VaryError(`--vary ${v.pathText}: ${where || "the scenario"} is not an object`);
      if (last) return { container: node, key: step };
      if (!(step in node)) throw new VaryError(`--vary ${v.pathText}: the scenario has no ${where === "" ? step : `${where}.${step}`}`);
      node = node[step] as Json;
      where = where === "" ? step : `${where}.${step}`;
    }
  }
  throw new VaryError(`--vary ${v.pathText}: empty path`);
}
