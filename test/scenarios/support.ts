import { INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { ScenarioError } from "../../scenarios/reader.js";
import { parseScenario, type Scenario } from "../../scenarios/schema.js";

export const FILE = "x.json";

/** A plain JSON document, so tests can build scenarios by editing objects. */
export type Doc = { [key: string]: unknown };

/**
 * A server multicasting to four clients on lossy downlinks, the clients answering over unicast,
 * and clients 0 and 1 cut off from the server from 0.5s to 1s. Small enough to run in milliseconds,
 * large enough that each client downlink carries the packets loss-within-bounds needs to judge.
 */
export function smallScenario(): Doc {
  return {
    name: "small",
    duration: "2s",
    hosts: [{ name: "server" }, { name: "client", count: 4 }],
    network: {
      defaults: { bandwidth: "1Gbit", latency: "100us", queue: "256KiB" },
      links: [{ hosts: "client*", direction: "down", bandwidth: "100Mbit", loss: 0.01 }],
    },
    workloads: [
      { type: "traffic", from: "server", to: "group:1", members: "client*", rate: "20Mbit", packet: "1000" },
      { type: "traffic", from: "client*", to: "server", rate: "1Mbit", packet: "500" },
    ],
    faults: [{ type: "partition", at: "500ms", heal: "500ms", a: "client[0-1]", b: "server" }],
  };
}

export function parse(doc: unknown): Scenario {
  return parseScenario(JSON.stringify(doc), FILE, INVARIANT_NAMES);
}

/** The message of the ScenarioError that parsing `doc` throws; fails the test on any other outcome. */
export function errorOf(doc: unknown): string {
  return errorOfText(JSON.stringify(doc));
}

export function errorOfText(text: string): string {
  try {
    parseScenario(text, FILE, INVARIANT_NAMES);
  } catch (error) {
    if (error instanceof ScenarioError) return error.message;
    throw error;
  }
  throw new Error("expected the scenario to be refused, but it parsed");
}

/**
 * A value made on first use, inside the test that first asks for it, and shared by the file's
 * later tests. The simulated worlds of these tests are built this way rather than at import or
 * in a describe's body: a mutation run (npm run mutate) counts code that runs outside a test as
 * "static" and cannot attribute it to the tests that check it. The world building runs no
 * invariant code; each test calls the invariants itself, so each is seen to reach them.
 */
export function once<T>(make: () => T): () => T {
  let made: { value: T } | null = null;
  return () => (made ??= { value: make() }).value;
}

/**
 * Changes a test makes to a world it shares with other tests, each undone after the test
 * (`afterEach(() => tampering.undo())`), last first, so every test sees the honest world.
 */
export class Tampering {
  private readonly undos: (() => void)[] = [];

  set<T extends object, K extends keyof T>(target: T, key: K, value: T[K]): void {
    const before = target[key];
    this.undos.push(() => {
      target[key] = before;
    });
    target[key] = value;
  }

  undo(): void {
    for (let undo = this.undos.pop(); undo !== undefined; undo = this.undos.pop()) undo();
  }
}
