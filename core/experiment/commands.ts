import type { Micros } from "../engine/time.js";
import type { PartitionPlan } from "./plan.js";

/**
 * What the swap machine asks its world to do. `node` is the experiment's node (index into the
 * plan), `pnode` the physical node standing for it now (node i starts on physical node i; spares
 * follow the nodes). `attempt` counts from 1 per node and step; a result names the attempt it is
 * for, so a late result of an aborted attempt is recognised and ignored.
 */
export type SwapCommand =
  | { readonly type: "serve-image"; readonly image: number }
  | { readonly type: "stop-image"; readonly image: number }
  | { readonly type: "load"; readonly node: number; readonly pnode: number; readonly attempt: number; readonly partitions: readonly PartitionPlan[] }
  | { readonly type: "boot"; readonly node: number; readonly pnode: number; readonly attempt: number }
  | { readonly type: "setup"; readonly node: number; readonly pnode: number; readonly attempt: number }
  /** Stop whatever runs on the physical node (a load, a boot, a setup): power-cycle it. */
  | { readonly type: "abort"; readonly node: number; readonly pnode: number; readonly why: string }
  | { readonly type: "start-sync"; readonly node: number; readonly pnode: number }
  | { readonly type: "stop-sync"; readonly node: number; readonly pnode: number }
  | { readonly type: "save"; readonly node: number; readonly pnode: number; readonly attempt: number; readonly partitions: readonly PartitionPlan[] }
  /** Give the physical node back (power off): at swap-out, or a bad node that a spare replaced. */
  | { readonly type: "release"; readonly node: number; readonly pnode: number };

export type SwapCommandType = SwapCommand["type"];

/** The commands' port: called after each input has been handled, never in the middle of one. */
export interface SwapPort {
  command(cmd: SwapCommand): void;
}

/** What a world reports back to the swap machine: its inputs, as an adapter calls them. */
export interface SwapInputs {
  imageServing(now: Micros, image: number, ok: boolean, reason: string): void;
  progress(now: Micros, node: number, bytesWritten: number, secondsLeft: number | null): void;
  loadDone(now: Micros, node: number, attempt: number, ok: boolean, reason: string): void;
  bootDone(now: Micros, node: number, attempt: number, ok: boolean, reason: string): void;
  setupDone(now: Micros, node: number, attempt: number, passed: boolean, reason: string): void;
  syncStarted(now: Micros, ok: boolean, reason: string): void;
  saveDone(now: Micros, node: number, attempt: number, ok: boolean, reason: string): void;
  released(now: Micros, node: number): void;
}
