import { describe, expect, it } from "vitest";
import { groupAddress } from "../../core/engine/ports.js";
import { World } from "../../sim/world.js";
import { installRecorder, link100, message } from "./support.js";

const MB = 1_000_000;
const PORT = 7;

/** Two hosts on 100 Mbit/s links with 500 us latency: a 1000-byte packet takes 1,160 us one way. */
function pair(seed: string | number = "pair") {
  const world = new World(seed);
  const a = world.addHost("a", link100());
  const b = world.addHost("b", link100());
  return { world, a, b };
}

describe("World hosts", () => {
  it("starts an installed process at the time it is installed", () => {
    const { world, a } = pair();
    world.run(300);
    const proc = installRecorder(world, a, PORT);
    world.run();
    expect(proc.current().log).toEqual(["start @300"]);
  });

  it("refuses a second process on the same port and a second host with the same name", () => {
    const { world, a } = pair();
    installRecorder(world, a, PORT);
    expect(() => installRecorder(world, a, PORT)).toThrow(/taken/);
    expect(() => world.addHost("a", link100())).toThrow(/already exists/);
    expect(() => world.host("nobody")).toThrow(/no host/);
    expect(world.host("b").name).toBe("b");
  });

  it("fires a timer at its time, replaces it when set again, and forgets it when cancelled", () => {
    const { world, a } = pair();
    const proc = installRecorder(world, a, PORT, (env) => {
      env.timers.set(1, 1_000);
      env.timers.set(1, 2_000);
      env.timers.set(2, 1_500);
      env.timers.set(3, 1_700);
      env.timers.cancel(3);
    });
    world.run();
    expect(proc.current().log).toEqual(["start @0", "timer 2 @1500", "timer 1 @2000"]);
    expect(world.engine.pending).toBe(0);
  });

  it("fires a timer set in the past at once", () => {
    const { world, a } = pair();
    world.run(5_000);
    const proc = installRecorder(world, a, PORT, (env) => env.timers.set(1, 10));
    world.run();
    expect(proc.current().log).toEqual(["start @5000", "timer 1 @5000"]);
  });
});

describe("World delivery", () => {
  it("delivers to the process on the packet's port, and to hosts added after that port was first used", () => {
    const { world, a, b } = pair();
    const onSeven = installRecorder(world, b, PORT);
    const onEight = installRecorder(world, b, PORT + 1);
    const c = world.addHost("c", link100());
    const onC = installRecorder(world, c, PORT);
    installRecorder(world, a, PORT, (env) => {
      env.net.send(b.id, PORT + 1, message(1_000, 8));
      env.net.send(b.id, PORT, message(1_000, 7));
      env.net.send(c.id, PORT, message(1_000, 3));
      env.net.send(c.id, PORT + 2, message(1_000, 9));
    });
    world.run();
    expect(onSeven.current().received.map((r) => r.seq)).toEqual([7]);
    expect(onEight.current().received.map((r) => r.seq)).toEqual([8]);
    expect(onC.current().received.map((r) => r.seq)).toEqual([3]);
    expect(world.network.stats).toMatchObject({ delivered: 3, undeliverable: 1 });
  });

  it("keeps timers with ids beyond the array apart from the small ones", () => {
    const { world, a } = pair();
    const proc = installRecorder(world, a, PORT, (env) => {
      env.timers.set(1, 1_000);
      env.timers.set(1_000_001, 1_000);
      env.timers.set(-5, 1_500);
      env.timers.cancel(1);
    });
    world.run();
    expect(proc.current().log).toEqual(["start @0", "timer 1000001 @1000", "timer -5 @1500"]);
  });
});

describe("World crash and restart", () => {
  it("drops deliveries to a crashed host and counts them as undeliverable", () => {
    const { world, a, b } = pair();
    const receiver = installRecorder(world, b, PORT);
    installRecorder(world, a, PORT, (env) => env.net.send(b.id, PORT, message(1_000, 1)));
    world.call(100, () => world.crash(b));
    world.run();
    expect(receiver.current().received).toEqual([]);
    expect(world.network.stats.undeliverable).toBe(1);
    expect(b.crashes).toBe(1);
  });

  it("cancels a crashed host's timers", () => {
    const { world, a } = pair();
    const proc = installRecorder(world, a, PORT, (env) => env.timers.set(1, 10_000));
    world.run(100);
    expect(world.engine.pending).toBe(1);
    world.crash(a);
    expect(world.engine.pending).toBe(0);
    world.run();
    expect(proc.current().log).toEqual(["start @0"]);
  });

  it("re-runs the installed factory on restart, calling start() again on a fresh process", () => {
    const { world, a } = pair();
    const proc = installRecorder(world, a, PORT, (env) => env.timers.set(1, env.now() + 1_000));
    world.call(500, () => world.crash(a));
    world.call(2_000, () => world.restart(a));
    world.run();
    expect(proc.lives).toHaveLength(2);
    expect(proc.lives[0]!.log).toEqual(["start @0"]);
    expect(proc.lives[1]!.log).toEqual(["start @2000", "timer 1 @3000"]);
  });

  it("ignores disk and CPU completions meant for the life before a crash", () => {
    const { world, a } = pair();
    world.attachDisk(a, {
      sizeBytes: 10 * MB,
      writeBytesPerSec: 50 * MB,
      readBytesPerSec: 50 * MB,
      latencyUs: 0,
      writeErrorRate: 0,
      badRanges: [],
      keepData: false,
    });
    world.attachCpu(a, { cores: 1, unitsPerSec: { hash: MB } });
    let life = 0;
    const proc = installRecorder(world, a, PORT, (env) => {
      if (life++ > 0) return; // only the first life asks for work
      env.disk!.write(1, 0, MB); // done at 20,000
      env.cpu!.run(2, "hash", MB); // done at 1,000,000
    });
    world.call(100, () => world.crash(a));
    world.call(200, () => world.restart(a));
    world.run();
    expect(world.now()).toBe(1_000_000); // both completions did fire
    expect(proc.lives.map((p) => p.log)).toEqual([["start @0"], ["start @200"]]);
  });

  it("leaves the crashed host's groups, so the new life must join again", () => {
    const { world, a, b } = pair();
    const group = groupAddress(5);
    const member = installRecorder(world, b, PORT, (env) => {
      if (env.now() === 0) env.net.join(group);
    });
    installRecorder(world, a, PORT, (env) => env.timers.set(1, 10_000));
    world.call(100, () => world.crash(b));
    world.call(200, () => world.restart(b));
    world.call(10_000, () => world.send(a, PORT, group, PORT, message(100, 1)));
    world.run();
    expect(world.network.members(group)).toEqual([]);
    expect(member.lives.flatMap((p) => p.received)).toEqual([]);
    expect(world.network.stats.noMembers).toBe(1);
  });

  it("lets a process installed on a crashed host wait for the restart", () => {
    const { world, a } = pair();
    world.crash(a);
    const proc = installRecorder(world, a, PORT);
    expect(proc.lives).toHaveLength(0);
    world.call(50, () => world.restart(a));
    world.run();
    expect(proc.current().log).toEqual(["start @50"]);
  });

  it("sends nothing from a crashed host", () => {
    const { world, a, b } = pair();
    installRecorder(world, b, PORT);
    world.crash(a);
    world.send(a, PORT, b.id, PORT, message(100));
    expect(world.network.stats.sent).toBe(0);
  });
});

describe("World pause and resume", () => {
  it("holds timers and packets while paused and delivers them in order on resume", () => {
    // b's timers fire at 1,500 and 3,000; a's packet lands at 1,160 + 1,000 = 2,160; b resumes at 5,000.
    const { world, a, b } = pair();
    const held = installRecorder(world, b, PORT, (env) => {
      env.timers.set(1, 1_500);
      env.timers.set(2, 3_000);
    });
    installRecorder(world, a, PORT, (env) => env.timers.set(9, 1_000));
    world.call(1_000, () => world.send(a, PORT, b.id, PORT, message(1_000, 42)));
    world.call(1_000, () => world.pause(b));
    world.call(5_000, () => world.resume(b));
    world.run();
    expect(held.current().log).toEqual(["start @0", "timer 1 @5000", "receive 42 @5000", "timer 2 @5000"]);
    expect(world.events.map((e) => e.kind)).toEqual(["host.pause", "host.resume"]);
    expect(world.events[1]?.fields).toEqual({ heldInputs: 3 });
  });

  it("counts a packet a paused host holds as held, then as delivered on resume or undeliverable on a crash", () => {
    // The packets land at 1,160 and 1,240 us: the second waits 80 us behind the first on the uplink.
    const world = new World("held");
    const [sender, resumed, crashed] = ["s", "r", "c"].map((name) => world.addHost(name, link100()));
    for (const host of [resumed!, crashed!]) installRecorder(world, host, PORT);
    installRecorder(world, sender!, PORT, (env) => {
      env.net.send(resumed!.id, PORT, message(1_000, 1));
      env.net.send(crashed!.id, PORT, message(1_000, 2));
    });
    world.pause(resumed!);
    world.pause(crashed!);
    world.run(2_000);
    expect(world.network.stats).toMatchObject({ held: 2, delivered: 0, undeliverable: 0 });
    world.resume(resumed!);
    world.crash(crashed!);
    expect(world.network.stats).toMatchObject({ held: 0, delivered: 1, undeliverable: 1, copies: 2 });
  });

  it("holds a disk completion while paused", () => {
    const { world, a } = pair();
    world.attachDisk(a, {
      sizeBytes: MB,
      writeBytesPerSec: MB,
      readBytesPerSec: MB,
      latencyUs: 100,
      writeErrorRate: 0,
      badRanges: [],
      keepData: true,
    });
    const proc = installRecorder(world, a, PORT, (env) => env.disk!.write(1, 0, new Uint8Array(1_000)));
    world.call(10, () => world.pause(a));
    world.call(9_000, () => world.resume(a));
    world.run();
    expect(proc.current().log).toEqual(["start @0", "disk 1 ok @9000"]);
  });

  it("forgets held inputs when a paused host crashes", () => {
    const { world, a } = pair();
    const proc = installRecorder(world, a, PORT, (env) => env.timers.set(1, 100));
    world.call(50, () => world.pause(a));
    world.call(200, () => world.crash(a));
    world.call(300, () => world.resume(a));
    world.call(400, () => world.restart(a));
    world.run();
    expect(a.deferred).toHaveLength(0);
    expect(proc.lives.map((p) => p.log)).toEqual([["start @0"], ["start @400", "timer 1 @400"]]);
  });
});

describe("World clock drift", () => {
  it("shows a host 100 ppm fast a local time of 1,000,100 us at global 1 s", () => {
    const { world, a } = pair();
    a.clock.driftPpm = 100;
    const proc = installRecorder(world, a, PORT);
    const readings: number[] = [];
    world.call(1_000_000, () => readings.push(proc.current().env.now()));
    world.run();
    expect(readings).toEqual([1_000_100]);
  });

  it("fires a timer for local time L at the earliest global time whose local reading is at least L", () => {
    // At +100 ppm local = round(global * 1.0001). Local 2,000,000 is first read at global 1,999,800
    // (1,999,800 * 1.0001 = 1,999,999.98), not at 1,999,799 (which reads 1,999,998.98 -> 1,999,999).
    const { world, a } = pair();
    a.clock.driftPpm = 100;
    const proc = installRecorder(world, a, PORT, (env) => env.timers.set(1, 2_000_000));
    world.run(1_999_799);
    expect(proc.current().log).toEqual(["start @0"]);
    world.run(1_999_800);
    expect(proc.current().log).toEqual(["start @0", "timer 1 @2000000"]);
  });

  it("fires a slow clock's timer later in global time, and offsets shift it", () => {
    // At -250 ppm with a 1,000 us offset, local 1,000,000 is first read where
    // 1000 + g * 0.99975 >= 999,999.5, i.e. at g = 999,249.31... -> 999,250.
    const { world, a } = pair();
    a.clock.driftPpm = -250;
    a.clock.offsetUs = 1_000;
    const proc = installRecorder(world, a, PORT, (env) => env.timers.set(1, 1_000_000));
    world.run(999_249);
    expect(proc.current().log).toEqual(["start @1000"]);
    world.run(999_250);
    expect(proc.current().log).toEqual(["start @1000", "timer 1 @1000000"]);
  });
});

describe("World determinism", () => {
  it("gives the same trace fingerprint for the same seed and a different one for another seed", () => {
    const run = (seed: number): string => {
      const { world, a, b } = pair(seed);
      world.network.setLoss(world.network.uplinks[a.id]!, { model: "bernoulli", rate: 0.3 });
      installRecorder(world, b, PORT);
      installRecorder(world, a, PORT, (env) => {
        for (let seq = 0; seq < 100; seq++) env.net.send(b.id, PORT, message(500, seq));
      });
      world.run();
      return world.engine.trace.hex();
    };
    expect(run(1)).toBe(run(1));
    expect(run(2)).not.toBe(run(1));
  });
});
