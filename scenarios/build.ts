import { buildWorld as buildSimWorld, scheduleFaults, type BuiltWorld as SimBuiltWorld } from "../sim/build.js";
import { installFrisbee, type FrisbeeBuilt } from "../sim/frisbee/install.js";
import type { Scenario } from "./schema.js";
import { installSync, type SyncBuilt } from "../sim/sync/install.js";

export { SOURCE_PORT_BASE, type FlowInfo } from "../sim/build.js";

/** A scenario's world with what its mechanisms installed, for the invariants to judge. */
export interface BuiltWorld extends SimBuiltWorld {
  frisbee: FrisbeeBuilt | null;
  sync: SyncBuilt | null;
}

/**
 * Builds the world a scenario describes: sim/ builds the world and installs each mechanism the
 * scenario names, then the faults are scheduled. This file only chooses and orders; it stays in
 * scenarios/ because a scenario's set of mechanisms (Frisbee, sync, ...) is what a scenario is.
 */
export function buildWorld(scenario: Scenario, seed: number): BuiltWorld {
  const sim = buildSimWorld(scenario, seed);
  const built: BuiltWorld = { ...sim, frisbee: null, sync: null };
  if (scenario.frisbee !== null) built.frisbee = installFrisbee(sim.world, scenario.frisbee);
  if (scenario.sync !== null) built.sync = installSync(sim.world, scenario.sync);
  scheduleFaults(sim, scenario.faults);
  return built;
}
