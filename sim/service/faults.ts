import type { Engine, HandlerId } from "../../core/engine/engine.js";
import type { Rng } from "../../core/engine/rng.js";
import type { Micros } from "../../core/engine/time.js";
import { FILES_PER_NODE, PROCESSES_PER_NODE, SIM_US, type ServiceSimOptions } from "./options.js";

/**
 * When faults happen: per node, exponential gaps between process crashes, watchdog hangs and
 * reboots, each node drawing from its own stream (so adding a node shifts no other node's faults);
 * for the whole run, partitions, single-node corruptions and bad mirrors as Poisson processes, plus
 * any scripted faults. Nothing is scheduled after `endUs`, so the run ends with a healed phase.
 */
export class FaultPlan {
  private readonly nodeRngs: Rng[];
  private readonly globalRng: Rng;
  private readonly jitterRng: Rng;
  private nextPartitionId = 1;

  constructor(
    private readonly o: ServiceSimOptions,
    rng: Rng,
    private readonly endUs: Micros,
  ) {
    this.nodeRngs = Array.from({ length: o.nodes }, (_, n) => rng.fork(`node:${n}`));
    this.globalRng = rng.fork("global");
    this.jitterRng = rng.fork("jitter");
  }

  rngOf(node: number): Rng {
    return this.nodeRngs[node] as Rng;
  }

  /** 0..2 s, the spread of node-side work. */
  jitterUs(): Micros {
    return this.jitterRng.int(2 * SIM_US.SEC);
  }

  rebootDownUs(node: number): Micros {
    const f = this.o.faults;
    return f.rebootDownUsMin + this.rngOf(node).int(Math.max(1, f.rebootDownUsMax - f.rebootDownUsMin));
  }

  scheduleNode(engine: Engine, node: number, crash: HandlerId<undefined>, hang: HandlerId<undefined>, reboot: HandlerId<undefined>): void {
    this.nextCrash(engine, node, crash);
    this.nextHang(engine, node, hang);
    this.nextReboot(engine, node, reboot);
  }

  nextCrash(engine: Engine, node: number, h: HandlerId<undefined>): void {
    this.after(engine, node, this.o.faults.crashMeanUs / PROCESSES_PER_NODE, h);
  }

  nextHang(engine: Engine, node: number, h: HandlerId<undefined>): void {
    this.after(engine, node, this.o.faults.hangMeanUs, h);
  }

  nextReboot(engine: Engine, node: number, h: HandlerId<undefined>): void {
    this.after(engine, node, this.o.faults.rebootMeanUs, h);
  }

  private after(engine: Engine, node: number, meanUs: number, h: HandlerId<undefined>): void {
    if (!(meanUs > 0) || !Number.isFinite(meanUs)) return;
    const at = engine.now + Math.max(1, Math.round(this.rngOf(node).exponential(meanUs)));
    if (at < this.endUs) engine.at(at, h, node);
  }

  scheduleGlobal(engine: Engine, partition: HandlerId<number[]>, heal: HandlerId<number[]>, corrupt: HandlerId<number[]>, checksum: HandlerId<undefined>): void {
    const f = this.o.faults;
    const g = this.globalRng;
    const days = this.endUs / SIM_US.DAY;
    const poisson = (perDay: number, each: (atUs: Micros) => void): void => {
      if (!(perDay > 0)) return;
      for (let t = g.exponential(SIM_US.DAY / perDay); t < this.endUs; t += g.exponential(SIM_US.DAY / perDay)) each(Math.round(t));
    };
    poisson(f.partitionsPerDay, (at) => {
      const forUs = f.partitionUsMin + g.int(Math.max(1, f.partitionUsMax - f.partitionUsMin));
      this.partition(engine, partition, heal, at, Math.min(forUs, this.endUs - at), this.pickNodes(f.partitionShare));
    });
    const corruptPerDay = f.corruptMeanUs > 0 ? (this.o.nodes * SIM_US.DAY) / f.corruptMeanUs : 0;
    let tag = 1;
    poisson(corruptPerDay, (at) => engine.at(at, corrupt, tag++ * FILES_PER_NODE + g.int(FILES_PER_NODE), [g.int(this.o.nodes)]));
    poisson(f.badMirrorsPerDay, (at) => engine.at(at, corrupt, tag++ * FILES_PER_NODE + g.int(FILES_PER_NODE), this.pickNodes(f.badMirrorShare)));
    for (const s of this.o.scripted ?? []) {
      if (s.type === "partition") this.partition(engine, partition, heal, s.atUs, s.forUs, [...s.nodes]);
      else if (s.type === "corrupt") engine.at(s.atUs, corrupt, s.tag * FILES_PER_NODE + s.file, [...s.nodes]);
      else if (s.type === "checksum") engine.at(s.atUs, checksum);
    }
    void days;
  }

  private partition(engine: Engine, partition: HandlerId<number[]>, heal: HandlerId<number[]>, at: Micros, forUs: Micros, nodes: number[]): void {
    const id = this.nextPartitionId++;
    engine.at(at, partition, id, nodes);
    engine.at(at + Math.max(1, forUs), heal, id, nodes);
  }

  /** A share of the nodes, at least one, as a contiguous run (a site or a rack) from a random start. */
  private pickNodes(share: number): number[] {
    const n = this.o.nodes;
    const count = Math.max(1, Math.min(n, Math.round(n * share)));
    const start = this.globalRng.int(n);
    return Array.from({ length: count }, (_, i) => (start + i) % n);
  }
}
