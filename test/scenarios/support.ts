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
