import { isGroup } from "../core/engine/index.js";
import type { Link } from "../sim/link.js";
import { GilbertElliottLoss } from "../sim/loss.js";
import type { BuiltWorld } from "./build.js";
import { clientsFinish, controlBounded, imageExact, serverRate } from "./frisbee/invariants.js";
import { deadlineKept, noEarlyRelease, releasedOnce } from "./sync/invariants.js";
import type { Scenario } from "./schema.js";

export interface InvariantResult {
  name: string;
  ok: boolean;
  detail: string;
}

interface Invariant {
  name: string;
  /** Whether the invariant says anything about this scenario; those that do not are not reported. */
  applies(scenario: Scenario): boolean;
  check(scenario: Scenario, built: BuiltWorld): string | null;
}

/** How many standard deviations a measured loss rate may stray before we call it wrong. */
const LOSS_SIGMAS = 5;
/** Packets a link must carry before its loss rate is judged. */
const LOSS_SAMPLE_MIN = 2_000;

const always = (): boolean => true;
const hasTraffic = (s: Scenario): boolean => s.workloads.length > 0;
const hasPartition = (s: Scenario): boolean => s.faults.some((f) => f.type === "partition");
const hasFrisbee = (s: Scenario): boolean => s.frisbee !== null;
const withFrisbee =
  (check: (f: NonNullable<BuiltWorld["frisbee"]>, b: BuiltWorld) => string | null) =>
  (_s: Scenario, b: BuiltWorld): string | null =>
    b.frisbee === null ? null : check(b.frisbee, b);

const INVARIANTS: readonly Invariant[] = [
  { name: "packet-conservation", applies: always, check: (_s, b) => packetConservation(b) },
  { name: "queue-bounded", applies: always, check: (_s, b) => queueBounded(b) },
  { name: "no-duplicate-delivery", applies: hasTraffic, check: (_s, b) => noDuplicates(b) },
  { name: "sinks-match-network", applies: hasTraffic, check: (_s, b) => sinksMatchNetwork(b) },
  { name: "loss-within-bounds", applies: always, check: (_s, b) => lossWithinBounds(b) },
  { name: "partition-respected", applies: hasPartition, check: (s, b) => partitionRespected(s, b) },
  { name: "delivery-after-heal", applies: hasPartition, check: (s, b) => deliveryAfterHeal(s, b) },
  {
    name: "frisbee-clients-finish",
    applies: hasFrisbee,
    check: withFrisbee((f, b) => clientsFinish(f, (h) => b.world.hosts[h]?.state !== "crashed")),
  },
  { name: "frisbee-image-exact", applies: hasFrisbee, check: withFrisbee((f) => imageExact(f)) },
  { name: "frisbee-server-rate", applies: hasFrisbee, check: withFrisbee((f) => serverRate(f)) },
  { name: "frisbee-control-bounded", applies: hasFrisbee, check: withFrisbee((f) => controlBounded(f)) },
  { name: "sync-no-early-release", applies: (s) => s.sync !== null, check: (s, b) => (b.sync === null ? null : noEarlyRelease(s, b.sync)) },
  {
    name: "sync-released-once",
    applies: (s) => s.sync !== null,
    check: (s, b) => (b.sync === null ? null : releasedOnce(s, b.sync, (h) => b.world.hosts[h]?.state !== "crashed")),
  },
  { name: "sync-deadline-kept", applies: (s) => s.sync !== null, check: (s, b) => (b.sync === null ? null : deadlineKept(s, b.sync)) },
];

export const INVARIANT_NAMES: readonly string[] = INVARIANTS.map((i) => i.name);

export function checkInvariants(scenario: Scenario, built: BuiltWorld): InvariantResult[] {
  const chosen = scenario.invariants === null
    ? INVARIANTS.filter((i) => i.applies(scenario))
    : INVARIANTS.filter((i) => scenario.invariants?.includes(i.name));
  return chosen.map((inv) => {
    const failure = inv.check(scenario, built);
    return { name: inv.name, ok: failure === null, detail: failure ?? "held" };
  });
}

/** Two ledgers must agree: the network's per-stage counters and the links' own counters. */
function packetConservation(built: BuiltWorld): string | null {
  const s = built.world.network.stats;
  const upstream = s.lostUplink + s.queueDropsUplink + s.switched + s.inFlightUplink;
  if (upstream !== s.sent) return `sent ${s.sent} but uplinks account for ${upstream}`;
  const downstream =
    s.partitionDrops + s.lostDownlink + s.queueDropsDownlink + s.delivered + s.undeliverable + s.inFlightDownlink + s.held;
  if (downstream !== s.copies) return `switch forwarded ${s.copies} copies but downlinks account for ${downstream}`;
  const sum = (links: readonly Link[], pick: (l: Link) => number): number => links.reduce((n, l) => n + pick(l), 0);
  const { uplinks, downlinks } = built.world.network;
  const checks: [string, number, number][] = [
    ["uplink losses", sum(uplinks, (l) => l.stats.lost), s.lostUplink],
    ["uplink queue drops", sum(uplinks, (l) => l.stats.queueDrops), s.queueDropsUplink],
    ["downlink losses", sum(downlinks, (l) => l.stats.lost), s.lostDownlink],
    ["downlink queue drops", sum(downlinks, (l) => l.stats.queueDrops), s.queueDropsDownlink],
    ["uplink packets", sum(uplinks, (l) => l.stats.packets), s.sent - s.queueDropsUplink],
  ];
  for (const [what, links, network] of checks) {
    if (links !== network) return `${what}: links count ${links}, network counts ${network}`;
  }
  return null;
}

function queueBounded(built: BuiltWorld): string | null {
  const { uplinks, downlinks } = built.world.network;
  for (const link of [...uplinks, ...downlinks]) {
    if (link.stats.queueBytesPeak > link.spec.queueBytesMax) {
      return `${link.name} queued ${link.stats.queueBytesPeak} bytes, limit ${link.spec.queueBytesMax}`;
    }
  }
  return null;
}

function noDuplicates(built: BuiltWorld): string | null {
  for (const { host, sink } of built.sinks) {
    for (const [flow, receipt] of sink.flows) {
      if (receipt.duplicates > 0) return `${built.world.hosts[host]?.name} got ${receipt.duplicates} duplicates of flow ${flow}`;
    }
  }
  return null;
}

/** What sinks counted equals what the network says it delivered, and no flow got more than was sent. */
function sinksMatchNetwork(built: BuiltWorld): string | null {
  let received = 0;
  const receivedByFlow = new Map<number, number>();
  for (const { sink } of built.sinks) {
    received += sink.foreign;
    for (const [flow, r] of sink.flows) {
      received += r.packets + r.duplicates;
      receivedByFlow.set(flow, Math.max(receivedByFlow.get(flow) ?? 0, r.packets));
    }
  }
  const delivered = built.world.network.stats.delivered;
  if (received !== delivered) return `sinks counted ${received} packets, the network delivered ${delivered}`;
  const sentByFlow = new Map<number, number>();
  for (const { flowBase, source } of built.sources) {
    source.stats.sent.forEach((n, t) => sentByFlow.set(flowBase + t, (sentByFlow.get(flowBase + t) ?? 0) + n));
  }
  for (const [flow, got] of receivedByFlow) {
    const sent = sentByFlow.get(flow) ?? 0;
    if (got > sent) return `a receiver of flow ${flow} got ${got} packets, only ${sent} were sent`;
  }
  return null;
}

/** Measured loss on every lossy link is within LOSS_SIGMAS of its model's rate. */
function lossWithinBounds(built: BuiltWorld): string | null {
  const { uplinks, downlinks } = built.world.network;
  for (const link of [...uplinks, ...downlinks]) {
    const model = link.loss;
    const n = link.stats.packets;
    if (model === null || built.lossChanged.has(link) || n < LOSS_SAMPLE_MIN) continue;
    const p = model.meanLossRate;
    const measured = link.stats.lost / n;
    let variance = (p * (1 - p)) / n;
    if (model instanceof GilbertElliottLoss) {
      // Losses in a burst are correlated: lag-1 correlation 1 - goodToBad - badToGood inflates the variance.
      const rho = Math.min(0.999, Math.max(0, 1 - model.params.goodToBad - model.params.badToGood));
      variance *= (1 + rho) / (1 - rho);
    }
    const bound = LOSS_SIGMAS * Math.sqrt(variance) + 1 / n;
    if (Math.abs(measured - p) > bound) {
      return `${link.name} lost ${(measured * 100).toFixed(3)}% of ${n} packets, configured ${(p * 100).toFixed(3)}% (bound ±${(bound * 100).toFixed(3)}%)`;
    }
  }
  return null;
}

/** The most a host's clock can be off global time during the run, for comparing sink timestamps. */
function clockSlackUs(scenario: Scenario, host: number): number {
  const decl = scenario.hosts[host];
  if (decl === undefined) return 0;
  return decl.clockOffsetUs + Math.ceil((Math.abs(decl.clockDriftPpm) * scenario.durationUs) / 1e6) + 1;
}

function crosses(fault: { a: number[]; b: number[]; oneWay: boolean }, src: number, dst: number): boolean {
  return (fault.a.includes(src) && fault.b.includes(dst)) || (!fault.oneWay && fault.b.includes(src) && fault.a.includes(dst));
}

/** No packet both left and arrived while a partition cut its path (judged on the scenario's timeline). */
function partitionRespected(scenario: Scenario, built: BuiltWorld): string | null {
  for (const fault of scenario.faults) {
    if (fault.type !== "partition") continue;
    const healUs = fault.healUs ?? Infinity;
    for (const { host: dst, sink } of built.sinks) {
      for (const [flowId, receipt] of sink.flows) {
        const flow = built.flows[flowId];
        if (flow === undefined || !crosses(fault, flow.src, dst)) continue;
        const from = fault.atUs + clockSlackUs(scenario, flow.src);
        const until = healUs - clockSlackUs(scenario, dst);
        for (let i = 0; i < receipt.arrivals.length; i += 2) {
          const sent = receipt.arrivals[i] as number;
          const arrived = receipt.arrivals[i + 1] as number;
          if (sent >= from && arrived <= until) {
            return `flow ${flowId} from ${built.world.hosts[flow.src]?.name} reached ${built.world.hosts[dst]?.name} across a partition (sent ${sent}us, arrived ${arrived}us)`;
          }
        }
      }
    }
  }
  return null;
}

/**
 * After the last heal, every flow that crossed a partition and keeps sending delivers again, unless
 * its hosts were crashed, paused or had their loss changed, or its path overflowed a queue.
 */
/**
 * A packet sent this long before the run's end is owed delivery after a heal; one sent later may
 * still sit in a queue when the run stops.
 */
export const HEAL_TRANSIT_GRACE_US = 500_000;

/**
 * How many packets flow's source (every life of it) sent at times in [fromUs, toUs]: a Poisson
 * source may send nothing for a second and more, and a flow that sent nothing owes nothing. A
 * record cut at its limit counts as sending without end (what came after is unknown).
 */
function sentBetween(built: BuiltWorld, flow: number, fromUs: number, toUs: number): number {
  let count = 0;
  for (const { flowBase, source } of built.sources) {
    const target = flow - flowBase;
    const times = source.sentUs?.[target];
    if (times === undefined) continue;
    if (source.sentUsFull(target)) return Infinity;
    count += times.filter((t) => t >= fromUs && t <= toUs).length;
  }
  return count;
}

function deliveryAfterHeal(scenario: Scenario, built: BuiltWorld): string | null {
  const healed = scenario.faults.filter((f) => f.type === "partition" && f.healUs !== null);
  const lastHealUs = Math.max(...healed.map((f) => (f.type === "partition" ? (f.healUs as number) : 0)), -1);
  if (lastHealUs < 0) return null;
  const disturbed = new Set(scenario.faults.filter((f) => f.type === "crash" || f.type === "pause" || f.type === "loss").flatMap((f) => f.hosts));
  for (const fault of healed) {
    if (fault.type !== "partition") continue;
    for (const flow of built.flows) {
      const workload = scenario.workloads[flow.workload];
      if (workload === undefined || workload.stopUs < lastHealUs + 1_000_000 || disturbed.has(flow.src)) continue;
      const dsts = isGroup(flow.dst) ? workload.members : [flow.dst];
      // A congested path owes no one delivery: liveness is promised only where queues never overflowed.
      if (built.world.network.uplinks[flow.src]!.stats.queueDrops > 0) continue;
      for (const dst of dsts) {
        if (dst === flow.src || disturbed.has(dst) || !crosses(fault, flow.src, dst)) continue;
        if (built.world.network.downlinks[dst]!.stats.queueDrops > 0) continue;
        const after = lastHealUs + clockSlackUs(scenario, flow.src);
        const owed = sentBetween(built, flow.flow, after, scenario.durationUs - HEAL_TRANSIT_GRACE_US);
        // Links that lost at least as many packets as the flow sent may have lost them all by
        // chance (a Gilbert-Elliott link stays bad for bursts); fewer losses leave one that must
        // arrive. A link that loses everything (rate 1) is no chance: that path never delivers.
        const up = built.world.network.uplinks[flow.src]!;
        const down = built.world.network.downlinks[dst]!;
        const dead = up.loss?.meanLossRate === 1 || down.loss?.meanLossRate === 1;
        if (owed === 0 || (!dead && up.stats.lost + down.stats.lost >= owed)) continue;
        const got = built.sinks
          .filter((s) => s.host === dst && s.port === flow.port)
          .some((s) => (s.sink.flows.get(flow.flow)?.arrivals ?? []).some((t, i) => i % 2 === 0 && t >= after));
        if (!got) return `flow ${flow.flow} from ${built.world.hosts[flow.src]?.name} never reached ${built.world.hosts[dst]?.name} after the heal`;
      }
    }
  }
  return null;
}
