import type { Command } from "commander";
import { registerServicePlan } from "./service-plan-command.js";

/** `plan service`, and (with the agent) `agent`, `service ...` and `bench service`. */
export function registerServiceCommands(program: Command, groups: { plan: Command; bench: Command }): void {
  void program;
  void groups.bench;
  registerServicePlan(groups.plan);
}
