import { INVARIANT_NAMES } from "../invariants.js";
import { ScenarioError, type Json, type JsonObject } from "../reader.js";
import { runScenario } from "../runner.js";
import { parseScenario } from "../schema.js";
import type { SeedResult } from "./run-seed.js";
import { drawnJson, type PreparedSpec } from "./spec.js";
import type { PathStep } from "./vary.js";

/**
 * The scenario's own shrinking: from a failing seed's scenario (its draws written in), greedily try
 * smaller ones under the same seed and keep each that still fails the same way: drop a fault, a
 * workload, a link rule; halve a host count or the duration; move a varied number toward the low
 * end of its range. Candidates the schema refuses are skipped. Deterministic: same input, same
 * result.
 */
export interface Shrunk {
  readonly seed: number;
  /** The smallest failing scenario found, with `"seed"` set so `testbed sim FILE` replays it. */
  readonly json: JsonObject;
  readonly steps: readonly string[];
  readonly runs: number;
  /** What the shrunk scenario still fails. */
  readonly failed: readonly string[];
}

/** Runs one shrink may spend. */
export const SHRINK_RUNS_MAX = 200;
/** Halvings of one number toward its range's low end. */
const BISECT_STEPS_MAX = 12;

export function shrinkSeed(p: PreparedSpec, failure: SeedResult, runsMax = SHRINK_RUNS_MAX): Shrunk | null {
  if (failure.verdict !== "fail" && failure.verdict !== "crash") return null;
  const target = new Set(failure.failed.map(signature));
  let runs = 0;
  let lastFailed: string[] = [...failure.failed];
  const stillFails = (json: Json): boolean => {
    if (runs >= runsMax) return false;
    let scenario;
    try {
      scenario = parseScenario(JSON.stringify(json), p.spec.file, INVARIANT_NAMES);
    } catch (error) {
      if (error instanceof ScenarioError) return false;
      throw error;
    }
    runs++;
    const failed = failuresOf(() => runScenario(scenario, { seed: failure.seed }).result);
    if (!failed.some((f) => target.has(signature(f)))) return false;
    lastFailed = failed;
    return true;
  };
  let current: State = { json: drawnJson(p, failure.seed) as JsonObject, paths: p.varies.map((v) => v.path) };
  const steps: string[] = [];
  let lastLowered: Candidate["lowered"] = undefined;
  // After each accepted cut the candidates are built again from the smaller scenario.
  for (let accepted = true; accepted && runs < runsMax; ) {
    accepted = false;
    for (const candidate of candidates(current, p)) {
      if (runs >= runsMax) break;
      if (stillFails(candidate.state.json)) {
        current = candidate.state;
        const l = candidate.lowered;
        if (l !== undefined && lastLowered !== undefined && lastLowered.path === l.path) {
          steps[steps.length - 1] = `${l.path} ${lastLowered.from} -> ${l.to}`;
          lastLowered = { ...l, from: lastLowered.from };
        } else {
          steps.push(candidate.step);
          lastLowered = l;
        }
        accepted = true;
        break;
      }
    }
  }
  const json: JsonObject = { ...current.json, seed: failure.seed };
  json.description = `Shrunk from ${p.spec.file} seed ${failure.seed}${p.spec.varies.length > 0 ? ` (${p.spec.varies.join(" ")})` : ""}: ${steps.length === 0 ? "no smaller failing scenario found" : steps.join("; ")}.`;
  return { seed: failure.seed, json, steps, runs, failed: lastFailed };
}

/** Invariant failures keep their name; a crash keeps its error's name (the part before ":"). */
function signature(failure: string): string {
  return failure.slice(0, Math.max(0, failure.indexOf(":")));
}

function failuresOf(run: () => { invariants: { name: string; ok: boolean; detail: string }[] }): string[] {
  try {
    return run().invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);
  } catch (error) {
    return [error instanceof Error ? `${error.name}: ${error.message}` : String(error)];
  }
}

/** A scenario and where each vary's field now is (a dropped list item shifts those after it). */
interface State {
  readonly json: JsonObject;
  readonly paths: readonly (readonly PathStep[] | null)[];
}

interface Candidate {
  readonly step: string;
  readonly state: State;
  /** For a varied number moved down: the vary's path, so successive moves show as one step. */
  readonly lowered?: { readonly path: string; readonly from: string; readonly to: string };
}

/** Smaller scenarios to try, biggest cuts first; built lazily so a budget stops the work too. */
function* candidates(state: State, p: PreparedSpec): Generator<Candidate> {
  const { json } = state;
  for (const list of ["faults", "workloads"] as const) {
    const items = json[list];
    if (!Array.isArray(items)) continue;
    for (let i = items.length - 1; i >= 0; i--) {
      yield { step: `dropped ${list}[${i}]`, state: { json: { ...json, [list]: items.filter((_, j) => j !== i) }, paths: shifted(state.paths, [list], i) } };
    }
  }
  const network = json.network;
  if (isObject(network) && Array.isArray(network.links)) {
    const links = network.links;
    for (let i = links.length - 1; i >= 0; i--) {
      const smaller = { ...json, network: { ...network, links: links.filter((_, j) => j !== i) } };
      yield { step: `dropped network.links[${i}]`, state: { json: smaller, paths: shifted(state.paths, ["network", "links"], i) } };
    }
  }
  const hosts = json.hosts;
  if (Array.isArray(hosts)) {
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i];
      if (!isObject(h) || typeof h.count !== "number" || h.count < 2) continue;
      const count = Math.floor(h.count / 2);
      yield { step: `hosts[${i}].count ${h.count} -> ${count}`, state: { ...state, json: { ...json, hosts: hosts.map((x, j) => (j === i ? { ...h, count } : x)) } } };
    }
  }
  yield* lowerVariedNumbers(state, p);
}

/** Vary paths after item `index` of the list at `list` is removed: through it, gone; past it, one down. */
function shifted(paths: State["paths"], list: readonly string[], index: number): State["paths"] {
  return paths.map((path) => {
    if (path === null || path.length <= list.length || !list.every((step, i) => path[i] === step)) return path;
    const at = path[list.length];
    if (typeof at !== "number" || at < index) return path;
    return at === index ? null : [...path.slice(0, list.length), at - 1, ...path.slice(list.length + 1)];
  });
}

/** Each varied number, moved from its drawn value toward the low end of its range by halving the gap. */
function* lowerVariedNumbers(state: State, p: PreparedSpec): Generator<Candidate> {
  for (const [i, v] of p.varies.entries()) {
    const r = v.range;
    const path = state.paths[i];
    if (r.kind === "choice" || path === null || path === undefined) continue;
    const current = readPath(state.json, path);
    const n = typeof current === "number" ? current : typeof current === "string" && current.endsWith(r.unit) ? Number(current.slice(0, current.length - r.unit.length)) : NaN;
    if (!Number.isFinite(n) || n <= r.lo) continue;
    for (let k = BISECT_STEPS_MAX, gap = n - r.lo; k > 0; k--, gap /= 2) {
      const raw = n - gap;
      const value = r.kind === "whole" ? Math.ceil(raw) : raw;
      if (value >= n) break;
      const text: Json = r.unit === "" ? value : `${value}${r.unit}`;
      const lowered = { path: v.pathText, from: showNumber(current, n), to: showNumber(text, value) };
      yield { step: `${v.pathText} ${lowered.from} -> ${lowered.to}`, state: { ...state, json: writePath(state.json, path, text) }, lowered };
    }
  }
}

function showNumber(raw: Json | undefined, n: number): string {
  return typeof raw === "string" ? raw : String(n);
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function readPath(json: Json, path: readonly PathStep[]): Json | undefined {
  let node: Json | undefined = json;
  for (const step of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = Array.isArray(node) ? (typeof step === "number" ? node[step] : undefined) : typeof step === "string" ? node[step] : undefined;
  }
  return node;
}

/** A copy with one value replaced (the path exists, as readPath found it). */
function writePath(json: JsonObject, path: readonly PathStep[], value: Json): JsonObject {
  const out = structuredClone(json);
  let node: Json = out;
  path.forEach((step, i) => {
    const container = node as Record<string | number, Json>;
    if (i === path.length - 1) container[step] = value;
    else node = container[step] as Json;
  });
  return out;
}
