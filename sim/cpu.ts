import type { Micros } from "../core/engine/index.js";

export interface CpuSpec {
  cores: number;
  /** Units of each kind of work done per second on one core, e.g. { inflate: 50 * 2 ** 20 } bytes. */
  unitsPerSec: Readonly<Record<string, number>>;
}

export interface CpuStats {
  jobs: number;
  busyUs: number;
}

/** Cores that run jobs FIFO; a job goes to the core that frees up first. */
export class SimCpu {
  private readonly coreBusyUntilUs: Float64Array;
  readonly stats: CpuStats = { jobs: 0, busyUs: 0 };

  constructor(readonly spec: CpuSpec) {
    if (!(spec.cores >= 1)) throw new Error(`a CPU needs at least one core, got ${spec.cores}`);
    this.coreBusyUntilUs = new Float64Array(spec.cores);
  }

  /** Returns the completion time of `units` of `work` submitted at `nowUs`. */
  schedule(nowUs: Micros, work: string, units: number): Micros {
    const rate = Object.hasOwn(this.spec.unitsPerSec, work) ? this.spec.unitsPerSec[work] : undefined;
    if (rate === undefined) throw new Error(`no CPU cost is configured for work "${work}"`);
    let core = 0;
    for (let i = 1; i < this.coreBusyUntilUs.length; i++) {
      if ((this.coreBusyUntilUs[i] as number) < (this.coreBusyUntilUs[core] as number)) core = i;
    }
    const costUs = Math.ceil((units / rate) * 1_000_000);
    const startUs = Math.max(nowUs, this.coreBusyUntilUs[core] as number);
    this.coreBusyUntilUs[core] = startUs + costUs;
    this.stats.jobs++;
    this.stats.busyUs += costUs;
    return startUs + costUs;
  }
}
