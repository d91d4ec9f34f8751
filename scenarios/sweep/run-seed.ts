import { performance } from "node:perf_hooks";
import { ScenarioError } from "../reader.js";
import { runScenario } from "../runner.js";
import { scenarioFor, type PreparedSpec, type SweepSpec } from "./spec.js";

/**
 * One seed's outcome. `pass` and `fail` ran to the end (fail: an invariant broke); `crash` threw (a
 * bug: an assertion in a machine or the simulator); `invalid` means the drawn values made the
 * scenario unreadable, so nothing ran.
 */
export type Verdict = "pass" | "fail" | "crash" | "invalid";

export interface SeedResult {
  readonly seed: number;
  readonly verdict: Verdict;
  /** The run's trace fingerprint; empty when nothing ran. */
  readonly fingerprint: string;
  readonly events: number;
  readonly simSeconds: number;
  /** `invariant: detail` for each broken invariant, or the error of a crash or an invalid draw. */
  readonly failed: readonly string[];
  readonly wallMs: number;
}

/** Longest error text kept per seed; a crash's message can be long, the report wants one line. */
const PROBLEM_CHARS_MAX = 500;

export function runSeed(p: PreparedSpec, seed: number): SeedResult {
  const started = performance.now();
  const wallMs = (): number => Math.round((performance.now() - started) * 1000) / 1000;
  let scenario;
  try {
    scenario = scenarioFor(p, seed).scenario;
  } catch (error) {
    if (!(error instanceof ScenarioError)) throw error;
    return { seed, verdict: "invalid", fingerprint: "", events: 0, simSeconds: 0, failed: [oneLine(error.message)], wallMs: wallMs() };
  }
  try {
    const { result } = runScenario(scenario, { seed });
    const failed = result.invariants.filter((i) => !i.ok).map((i) => oneLine(`${i.name}: ${i.detail}`));
    return { seed, verdict: result.ok ? "pass" : "fail", fingerprint: result.traceHash, events: result.events, simSeconds: result.simSeconds, failed, wallMs: wallMs() };
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { seed, verdict: "crash", fingerprint: "", events: 0, simSeconds: 0, failed: [oneLine(message)], wallMs: wallMs() };
  }
}

export function isFailure(r: SeedResult): boolean {
  return r.verdict !== "pass";
}

function oneLine(text: string): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, "; ");
  return line.length > PROBLEM_CHARS_MAX ? `${line.slice(0, PROBLEM_CHARS_MAX)}...` : line;
}

/** The command that replays one seed exactly: the same file, seed and varies (so the same draws). */
export function replayLine(spec: SweepSpec, seed: number): string {
  return ["testbed", "sim", shellWord(spec.file), "--seed", String(seed), ...spec.varies.flatMap((v) => ["--vary", shellWord(v)])].join(" ");
}

/** A word as a POSIX shell reads it back: bare when safe, else single-quoted. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
