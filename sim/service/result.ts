import type { Summary } from "../monitor/samples.js";
import type { ServiceSimOptions } from "./options.js";
import type { PeerPairs } from "./pairs.js";

export interface RolloutRecord {
  set: "alpha" | "production";
  from: number;
  to: number;
  bad: boolean;
  targets: number;
  startSec: number;
  seconds: number;
  state: string;
  reason: string;
  batches: number;
  /** Most target nodes the rollout itself held down at once, and what it was allowed. */
  maxUnavailableSeen: number;
  allowedUnavailable: number;
}

/** Invariant counters: each must be zero. */
export interface ServiceInvariants {
  /** Times the nodes a rollout had stopped or broken exceeded its maxUnavailable. */
  unavailableOverBudget: number;
  /** Heartbeats accepted although sender and receiver ran different protocol versions. */
  crossVersionAccepted: number;
  /** Checksum decisions for a digest that at most half of the node set held. */
  minorityOverruled: number;
  /** Nodes not on their node set's final version at the end (after the healed phase). */
  offVersionAtEnd: number;
  rolloutUnfinished: number;
}

export interface Counters {
  crashes: number;
  hangs: number;
  reboots: number;
  partitions: number;
  gaveUps: number;
  sweepRestartsSilent: number;
  sweepRestartsGaveUp: number;
  reconciles: number;
  releases: number;
  releasesSkipped: number;
  stoppedAtAlpha: number;
  rollouts: RolloutRecord[];
  rolloutCausedMax: number;
  noticesExpected: number;
  noticesReachable: number;
  noticesWithin3s: number;
  checksumRounds: number;
  checksumRoundsSkipped: number;
  checksumDecisions: number;
  checksumNoQuorum: number;
  checksumMinority: number;
  repairs: number;
  corruptions: number;
  invariants: ServiceInvariants;
}

export function emptyResult(): Counters {
  return {
    crashes: 0,
    hangs: 0,
    reboots: 0,
    partitions: 0,
    gaveUps: 0,
    sweepRestartsSilent: 0,
    sweepRestartsGaveUp: 0,
    reconciles: 0,
    releases: 0,
    releasesSkipped: 0,
    stoppedAtAlpha: 0,
    rollouts: [],
    rolloutCausedMax: 0,
    noticesExpected: 0,
    noticesReachable: 0,
    noticesWithin3s: 0,
    checksumRounds: 0,
    checksumRoundsSkipped: 0,
    checksumDecisions: 0,
    checksumNoQuorum: 0,
    checksumMinority: 0,
    repairs: 0,
    corruptions: 0,
    invariants: { unavailableOverBudget: 0, crossVersionAccepted: 0, minorityOverruled: 0, offVersionAtEnd: 0, rolloutUnfinished: 0 },
  };
}

export interface ServiceSimResult extends Omit<Counters, "rolloutCausedMax" | "noticesExpected"> {
  seed: string;
  nodes: number;
  days: number;
  /** Share of node-time with every service process running. */
  availabilityPct: number;
  /** Seconds from a node's service going down to running again, by cause. */
  repairSec: Record<string, Summary>;
  /** Seconds from a rollout's start to its end (done or rolled back). */
  rolloutSec: Summary;
  /** Seconds from publishing a restart-less update to a node holding it. */
  noticeSec: Summary;
  noticesWithin3sPct: number;
  liveness: { pairs: number; samples: number; staleUsePct: number; falseAvoidPct: number; heartbeatsHeard: number; ignoredByVersion: number };
  finalVersions: { alpha: number; production: number };
  sweeps: number;
  watchdogRestarts: number;
  ok: boolean;
  events: number;
  traceHash: string;
  wallSeconds: number;
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

export function finishResult(
  c: Counters,
  x: {
    o: ServiceSimOptions;
    wallSeconds: number;
    events: number;
    traceHash: string;
    availability: number;
    repair: Record<string, Summary>;
    notice: Summary;
    rolloutSec: Summary;
    pairs: PeerPairs;
    wanted: { alpha: number; production: number };
    sweeps: number;
    watchdogRestarts: number;
  },
): ServiceSimResult {
  const { rolloutCausedMax: _max, noticesExpected: _expected, ...counters } = c;
  const p = x.pairs;
  const inv = c.invariants;
  return {
    seed: String(x.o.seed),
    nodes: x.o.nodes,
    days: round(x.o.durationUs / 86_400e6, 3),
    availabilityPct: round(x.availability * 100, 4),
    repairSec: x.repair,
    rolloutSec: x.rolloutSec,
    noticeSec: x.notice,
    noticesWithin3sPct: c.noticesReachable === 0 ? 100 : round((c.noticesWithin3s * 100) / c.noticesReachable, 2),
    liveness: {
      pairs: p.pairs,
      samples: p.samples,
      staleUsePct: p.unavailableSamples === 0 ? 0 : round((p.staleUses * 100) / p.unavailableSamples, 2),
      falseAvoidPct: p.availableSamples === 0 ? 0 : round((p.falseAvoids * 100) / p.availableSamples, 3),
      heartbeatsHeard: p.heartbeatsHeard,
      ignoredByVersion: p.ignoredByVersion,
    },
    finalVersions: x.wanted,
    sweeps: x.sweeps,
    watchdogRestarts: x.watchdogRestarts,
    ...counters,
    ok: inv.unavailableOverBudget === 0 && inv.crossVersionAccepted === 0 && inv.minorityOverruled === 0 && inv.offVersionAtEnd === 0 && inv.rolloutUnfinished === 0,
    events: x.events,
    traceHash: x.traceHash,
    wallSeconds: round(x.wallSeconds, 3),
  };
}
