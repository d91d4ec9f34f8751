import { describe, expect, it } from "vitest";
import { SimCpu } from "../../sim/cpu.js";
import { World } from "../../sim/world.js";
import { installRecorder, link100 } from "./support.js";

const MB = 1_000_000;
/** 50 MB/s of inflate and 200 MB/s of hashing per core. */
const unitsPerSec = { inflate: 50 * MB, hash: 200 * MB };

describe("SimCpu", () => {
  it("takes units / rate seconds for a job: 1 MB of inflate at 50 MB/s is 20,000 us", () => {
    expect(new SimCpu({ cores: 1, unitsPerSec }).schedule(500, "inflate", MB)).toBe(500 + 20_000);
  });

  it("runs jobs on one core one after another", () => {
    const cpu = new SimCpu({ cores: 1, unitsPerSec });
    const done = [cpu.schedule(0, "inflate", MB), cpu.schedule(0, "hash", MB), cpu.schedule(0, "inflate", MB)];
    expect(done).toEqual([20_000, 25_000, 45_000]);
    expect(cpu.stats).toEqual({ jobs: 3, busyUs: 45_000 });
  });

  it("runs two jobs in parallel on two cores, and a third on whichever core frees first", () => {
    const cpu = new SimCpu({ cores: 2, unitsPerSec });
    const done = [cpu.schedule(0, "inflate", MB), cpu.schedule(0, "hash", MB), cpu.schedule(0, "hash", MB)];
    // Core 0: inflate until 20,000. Core 1: hash until 5,000, then the third job until 10,000.
    expect(done).toEqual([20_000, 5_000, 10_000]);
  });

  it("starts a job submitted to an idle core at once", () => {
    const cpu = new SimCpu({ cores: 1, unitsPerSec });
    cpu.schedule(0, "hash", MB);
    expect(cpu.schedule(100_000, "hash", MB)).toBe(105_000);
  });

  it("rounds a fraction of a microsecond up", () => {
    expect(new SimCpu({ cores: 1, unitsPerSec }).schedule(0, "hash", 1)).toBe(1);
  });

  it("throws for a kind of work it has no cost for, even one named like an Object method", () => {
    const cpu = new SimCpu({ cores: 1, unitsPerSec });
    expect(() => cpu.schedule(0, "compress", 1)).toThrow(/no CPU cost .*compress/);
    expect(() => cpu.schedule(0, "toString", 1)).toThrow(/no CPU cost .*toString/);
    expect(() => cpu.schedule(0, "constructor", 1)).toThrow(/no CPU cost .*constructor/);
    expect(cpu.schedule(0, "hash", MB)).toBe(5_000);
  });

  it("refuses a CPU without cores", () => {
    expect(() => new SimCpu({ cores: 0, unitsPerSec })).toThrow(/at least one core/);
  });

  it("reports completions to the process at the CPU's times in a world", () => {
    const world = new World("cpu");
    const host = world.addHost("node", link100());
    world.attachCpu(host, { cores: 2, unitsPerSec });
    const proc = installRecorder(world, host, 1, (env) => {
      env.cpu!.run(1, "inflate", MB);
      env.cpu!.run(2, "inflate", MB);
      env.cpu!.run(3, "hash", MB);
    });
    world.run();
    expect(proc.current().log).toEqual(["start @0", "cpu 1 @20000", "cpu 2 @20000", "cpu 3 @25000"]);
  });
});
