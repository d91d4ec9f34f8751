import { groupAddress, type Address } from "../core/engine/index.js";
import type { Link, LinkSpec } from "./link.js";
import type { Direction, Fault, LinkRule, TrafficWorkload, WorldSpec } from "./spec.js";
import { World } from "./world.js";
import { TrafficSink, TrafficSource } from "./workloads/traffic.js";

/** Where a workload's flows start and end, for the invariants to check against. */
export interface FlowInfo {
  flow: number;
  workload: number;
  src: number;
  /** A host id, or a group address for multicast. */
  dst: Address;
  port: number;
}

export interface BuiltWorld {
  world: World;
  flows: FlowInfo[];
  sources: { host: number; workload: number; flowBase: number; source: TrafficSource }[];
  /** Every sink of every life (a restart makes a new one), with where it ran. */
  sinks: { host: number; port: number; sink: TrafficSink }[];
  /** Links whose loss a fault changed during the run: their measured loss mixes two settings. */
  lossChanged: Set<Link>;
}

export const SOURCE_PORT_BASE = 20_000;

/**
 * Builds the world a spec describes: hosts, links, disks, CPUs and its background traffic. Install
 * mechanisms next, then schedule the faults (scheduleFaults), in that order: events at the same
 * time run in the order they were scheduled, and a seed's run depends on it.
 */
export function buildWorld(spec: WorldSpec, seed: number): BuiltWorld {
  const world = new World(seed);
  world.network.headerBytes = spec.network.headerBytes;
  const built: BuiltWorld = { world, flows: [], sources: [], sinks: [], lossChanged: new Set() };
  addHosts(spec, world);
  for (const rule of spec.disks) {
    for (const h of rule.hosts) world.attachDisk(world.hosts[h]!, { ...rule, badRanges: rule.badRanges });
  }
  for (const rule of spec.cpus) {
    for (const h of rule.hosts) world.attachCpu(world.hosts[h]!, { cores: rule.cores, unitsPerSec: rule.unitsPerSec });
  }
  const keepArrivals = spec.faults.some((f) => f.type === "partition");
  for (const workload of spec.workloads) installTraffic(built, workload, keepArrivals);
  return built;
}

/** Schedules faults as world calls. */
export function scheduleFaults(built: BuiltWorld, faults: readonly Fault[]): void {
  for (const fault of faults) scheduleFault(built, fault);
}

function addHosts(scenario: WorldSpec, world: World): void {
  const count = scenario.hosts.length;
  const up: LinkSpec[] = [];
  const down: LinkSpec[] = [];
  const upLoss: (LinkRule["loss"])[] = new Array(count).fill(undefined);
  const downLoss: (LinkRule["loss"])[] = new Array(count).fill(undefined);
  for (let h = 0; h < count; h++) {
    up.push({ ...scenario.network.defaults });
    down.push({ ...scenario.network.defaults });
  }
  for (const rule of scenario.network.links) {
    for (const h of rule.hosts) {
      if (rule.direction !== "down") {
        Object.assign(up[h]!, rule.spec);
        if (rule.loss !== undefined) upLoss[h] = rule.loss;
      }
      if (rule.direction !== "up") {
        Object.assign(down[h]!, rule.spec);
        if (rule.loss !== undefined) downLoss[h] = rule.loss;
      }
    }
  }
  scenario.hosts.forEach((decl, h) => {
    const host = world.addHost(decl.name, up[h]!);
    host.clock.driftPpm = decl.clockDriftPpm;
    host.clock.offsetUs = decl.clockOffsetUs;
    const uplink = world.network.uplinks[h]!;
    const downlink = world.network.downlinks[h]!;
    downlink.spec = down[h]!;
    world.network.setLoss(uplink, upLoss[h] ?? null);
    world.network.setLoss(downlink, downLoss[h] ?? null);
  });
}

function installTraffic(built: BuiltWorld, workload: TrafficWorkload, keepArrivals: boolean): void {
  const { world } = built;
  const group = workload.group === null ? null : groupAddress(workload.group);
  const receivers = group === null ? workload.to : workload.members;
  for (const h of receivers) {
    const host = world.hosts[h]!;
    if (host.factories.has(workload.port)) continue;
    world.install(host, workload.port, (env) => {
      const sink = new TrafficSink(env, group === null ? [] : [group], keepArrivals);
      built.sinks.push({ host: h, port: workload.port, sink });
      return sink;
    });
  }
  for (const h of workload.from) {
    const targets: Address[] = group === null ? workload.to.filter((t) => t !== h) : [group];
    if (targets.length === 0) continue;
    const flowBase = built.flows.length;
    for (const dst of targets) built.flows.push({ flow: built.flows.length, workload: workload.index, src: h, dst, port: workload.port });
    const host = world.hosts[h]!;
    let life = 0;
    world.install(host, SOURCE_PORT_BASE + workload.index, (env) => {
      const source = new TrafficSource(env, { ...workload, flowBase, to: targets, life: life++, keepSent: keepArrivals });
      built.sources.push({ host: h, workload: workload.index, flowBase, source });
      return source;
    });
  }
}

function linksOf(world: World, hosts: readonly number[], direction: Direction): Link[] {
  const links: Link[] = [];
  for (const h of hosts) {
    if (direction !== "down") links.push(world.network.uplinks[h]!);
    if (direction !== "up") links.push(world.network.downlinks[h]!);
  }
  return links;
}

function scheduleFault(built: BuiltWorld, fault: Fault): void {
  const { world } = built;
  const names = (hosts: readonly number[]): string => hosts.map((h) => world.hosts[h]!.name).join(",");
  switch (fault.type) {
    case "partition":
      world.call(fault.atUs, () => {
        const id = world.network.partition(fault.a, fault.b, fault.oneWay);
        world.record("-", "fault.partition", { a: names(fault.a), b: names(fault.b), oneWay: fault.oneWay });
        if (fault.healUs !== null) {
          world.call(fault.healUs, () => {
            world.network.heal(id);
            world.record("-", "fault.heal", { a: names(fault.a), b: names(fault.b) });
          });
        }
      });
      return;
    case "crash":
      world.call(fault.atUs, () => {
        for (const h of fault.hosts) world.crash(world.hosts[h]!);
      });
      if (fault.restartUs !== null) {
        world.call(fault.restartUs, () => {
          for (const h of fault.hosts) world.restart(world.hosts[h]!);
        });
      }
      return;
    case "pause":
      world.call(fault.atUs, () => {
        for (const h of fault.hosts) world.pause(world.hosts[h]!);
      });
      world.call(fault.atUs + fault.forUs, () => {
        for (const h of fault.hosts) world.resume(world.hosts[h]!);
      });
      return;
    case "loss":
      world.call(fault.atUs, () => {
        for (const link of linksOf(world, fault.hosts, fault.direction)) {
          world.network.setLoss(link, fault.loss);
          built.lossChanged.add(link);
        }
        world.record("-", "fault.loss", { hosts: names(fault.hosts), direction: fault.direction });
      });
      return;
  }
}
