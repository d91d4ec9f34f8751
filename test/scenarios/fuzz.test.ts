import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { ScenarioError } from "../../scenarios/reader.js";
import { parseScenario } from "../../scenarios/schema.js";
import { FILE, type Doc } from "./support.js";

const RUNS = 400;
/** Generous: a parse takes well under a millisecond; this only catches a run that would hang. */
const TEST_TIMEOUT_MS = 30_000;

/** Characters that stress the parsers: JSON punctuation, selector syntax, line breaks, escapes. */
const awkwardChar = fc.constantFrom("a", "Z", "0", "9", ".", "*", "[", "]", "-", "{", "}", ":", ",", '"', "\\", " ", "\n", "\r", "\t", "é", "\u2028", "💥");
const awkwardString = fc.string({ unit: awkwardChar, maxLength: 30 });
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3, stringUnit: awkwardChar }));

/** A scenario that uses every section, so replacing any one field reaches every reader. */
function richScenario(): Doc {
  return {
    name: "rich",
    description: "every section",
    seed: 5,
    duration: "3s",
    hosts: [{ name: "server", clockOffset: "1ms" }, { name: "client", count: 3, clockDriftPpm: 10 }],
    network: {
      headerBytes: 28,
      defaults: { bandwidth: "1Gbit", latency: "50us", queue: "256KiB" },
      links: [
        { hosts: "client*", direction: "down", bandwidth: "100Mbit", loss: 0.01 },
        { hosts: ["client[0-1]"], loss: { model: "gilbert-elliott", rate: 0.05, meanBurst: 4 } },
        { hosts: "server", direction: "up", loss: { model: "gilbert-elliott", goodToBad: 0.01, badToGood: 0.5 } },
      ],
    },
    disks: [{ hosts: "server", size: "1GiB", write: "100MiB/s", latency: "100us", badRanges: [{ offset: "4KiB", length: "4KiB" }] }],
    cpus: [{ hosts: "*", cores: 2, costs: { hash: "500MiB/s", sign: 2000 } }],
    workloads: [
      { type: "traffic", from: "server", to: "group:1", members: "client*", rate: "20Mbit", packet: "1400", start: "100ms", stop: "2s" },
      { type: "traffic", from: "client*", to: "server", rate: "64Kbit", packet: "200", pattern: "poisson", port: 7000 },
    ],
    faults: [
      { type: "partition", at: "1s", heal: "500ms", a: "client0", b: "server", oneWay: true },
      { type: "crash", at: "1s", hosts: "client1", restart: "1s" },
      { type: "pause", at: "2s", hosts: "client2", for: "100ms" },
      { type: "loss", at: "2s", hosts: "client0", direction: "down", loss: null },
    ],
    invariants: ["packet-conservation", "queue-bounded"],
  };
}

type Path = (string | number)[];

/** Every place in a JSON value that holds a value, the root included. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  const paths: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => paths.push(...pathsOf(item, [...prefix, i])));
  else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) paths.push(...pathsOf(item, [...prefix, key]));
  }
  return paths;
}

function isObject(value: unknown): value is Doc {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function valueAt(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((value, key) => (value as Record<string | number, unknown>)[key], root);
}

function replaceAt(root: unknown, path: Path, replacement: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return replacement;
  if (Array.isArray(root)) return root.map((item, i) => (i === head ? replaceAt(item, rest, replacement) : item));
  const object = root as Doc;
  return { ...object, [head]: replaceAt(object[head as string], rest, replacement) };
}

/** Parses, accepting a Scenario or a one-line ScenarioError that names the file; anything else fails. */
function parsesOrRefusesCleanly(text: string): void {
  let scenario;
  try {
    scenario = parseScenario(text, FILE, INVARIANT_NAMES);
  } catch (error) {
    if (!(error instanceof ScenarioError)) throw error;
    expect(error.message.startsWith(`${FILE}: `)).toBe(true);
    expect(error.message).not.toMatch(/[\r\n]/);
    return;
  }
  expect(scenario.file).toBe(FILE);
  expect(scenario.durationUs).toBeGreaterThan(0);
  expect(scenario.hosts.length).toBeGreaterThan(0);
}

const RICH_PATHS = pathsOf(richScenario());

describe("parseScenario on arbitrary input", () => {
  it("parses the rich scenario the fuzzers start from", () => {
    const scenario = parseScenario(JSON.stringify(richScenario()), FILE, INVARIANT_NAMES);
    expect(scenario.faults.map((f) => f.type)).toEqual(["partition", "crash", "pause", "loss"]);
    expect(RICH_PATHS.length).toBeGreaterThan(100);
  });

  it("parses or refuses cleanly any string", { timeout: TEST_TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), awkwardString, fc.json().map((s) => s.slice(0, -1))), (text) =>
        parsesOrRefusesCleanly(text),
      ),
      { numRuns: RUNS },
    );
  });

  it("parses or refuses cleanly any JSON value", { timeout: TEST_TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(anyJson, (value) => parsesOrRefusesCleanly(JSON.stringify(value))),
      { numRuns: RUNS },
    );
  });

  it("parses or refuses cleanly a valid scenario with any one field replaced", { timeout: TEST_TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.constantFrom(...RICH_PATHS), fc.oneof(anyJson, awkwardString), (path, replacement) =>
        parsesOrRefusesCleanly(JSON.stringify(replaceAt(richScenario(), path, replacement))),
      ),
      { numRuns: RUNS },
    );
  });

  it("parses or refuses cleanly a valid scenario with one unexpected field added", { timeout: TEST_TIMEOUT_MS }, () => {
    const objectPaths = RICH_PATHS.filter((path) => isObject(valueAt(richScenario(), path)));
    fc.assert(
      fc.property(fc.constantFrom(...objectPaths), fc.oneof(awkwardString, fc.string()), anyJson, (path, key, value) => {
        const original = valueAt(richScenario(), path) as Doc;
        parsesOrRefusesCleanly(JSON.stringify(replaceAt(richScenario(), path, { ...original, [key]: value })));
      }),
      { numRuns: RUNS },
    );
  });
});
