import { afterEach, describe, expect, it } from "vitest";
import type { Env, Micros, Process } from "../../../core/engine/index.js";
import {
  CLIENT_DEFAULTS,
  CODE_LATE,
  CODE_OVERFLOW,
  CODE_TIMEOUT,
  SYNC_PORT,
  SyncClient,
  SyncDaemon,
  type CrashPolicy,
  type ExtraPolicy,
  type SyncClientOptions,
} from "../../../core/sync/index.js";
import { freshSeed, ipv4ToAddress, realEnv, UdpNet, type WallTimers } from "../../../real/runtime/index.js";
import { startSyncServer, type RunningSyncServer } from "../../../real/sync/server.js";
import { World } from "../../../sim/world.js";

/**
 * The same sync machines in two worlds: each case runs in the simulator (a World with a host per
 * participant) and on loopback UDP (the real server and one socket per client). One body, one table
 * of expected outcomes: both worlds must give every participant the same code, from the same source.
 * Participants start at once or when another's request is at the server ("answered") or has its
 * outcome ("done"), so the order is the same in both worlds whatever the machine's speed.
 */

interface Step {
  who: string;
  type: "init" | "wait";
  count?: number;
  error?: number;
  noWait?: boolean;
  deadlineMs?: number;
  extra?: ExtraPolicy;
  crash?: CrashPolicy;
  /** false: the original's request, sent once. */
  extended?: boolean;
  /** Give up locally after this long (and withdraw). */
  timeoutMs?: number;
  after?: { who: string; on: "answered" | "done" };
}

interface Outcome {
  code: number;
  source: "server" | "local" | "restart";
}

interface Case {
  name: string;
  steps: Step[];
  expect: Record<string, Outcome>;
}

const released = (code = 0): Outcome => ({ code, source: "server" });

const CASES: Case[] = [
  {
    name: "an initializer and three waiters: everyone gets the highest error",
    steps: [
      { who: "i", type: "init", count: 3, error: 2 },
      { who: "a", type: "wait", error: 7 },
      { who: "b", type: "wait" },
      { who: "c", type: "wait", error: 3 },
    ],
    expect: { i: released(7), a: released(7), b: released(7), c: released(7) },
  },
  {
    name: "waiters before their initializer (the counter goes below zero and back)",
    steps: [
      { who: "a", type: "wait" },
      { who: "b", type: "wait", after: { who: "a", on: "answered" } },
      { who: "i", type: "init", count: 2, after: { who: "b", on: "answered" } },
    ],
    expect: { i: released(), a: released(), b: released() },
  },
  {
    name: "the original's requests, sent once: INIT_NOWAIT answered at once, the waiter at the count",
    steps: [
      { who: "i", type: "init", count: 1, noWait: true, extended: false },
      { who: "a", type: "wait", extended: false, after: { who: "i", on: "done" } },
    ],
    expect: { i: released(), a: released() },
  },
  {
    name: "the initializer's deadline: everyone 241, and a later arrival told it is late",
    steps: [
      { who: "i", type: "init", count: 2, deadlineMs: 300, extra: "late" },
      { who: "a", type: "wait", after: { who: "i", on: "answered" } },
      { who: "late", type: "wait", after: { who: "a", on: "done" } },
    ],
    expect: { i: released(CODE_TIMEOUT), a: released(CODE_TIMEOUT), late: released(CODE_LATE) },
  },
  {
    name: "more early waiters than the count under the late policy: the surplus is turned away",
    steps: [
      { who: "a", type: "wait" },
      { who: "b", type: "wait", after: { who: "a", on: "answered" } },
      { who: "c", type: "wait", after: { who: "b", on: "answered" } },
      { who: "i", type: "init", count: 2, extra: "late", after: { who: "c", on: "answered" } },
    ],
    expect: { a: released(), b: released(), c: released(CODE_OVERFLOW), i: released() },
  },
  {
    name: "a waiter that gives up is withdrawn: the barrier waits for another",
    steps: [
      { who: "quitter", type: "wait", timeoutMs: 200 },
      { who: "i", type: "init", count: 1, after: { who: "quitter", on: "done" } },
      { who: "a", type: "wait", after: { who: "i", on: "answered" } },
    ],
    expect: { quitter: { code: CODE_TIMEOUT, source: "local" }, i: released(), a: released() },
  },
];

/** What a world offers the scheduler: start a participant's client, learn when it is answered and done. */
interface Stage {
  start(index: number, step: Step, options: SyncClientOptions, answered: () => void): void;
}

/** Starts each step when its dependency fires; resolves the outcomes once every participant has one. */
function schedule(c: Case, stage: Stage, server: number, port: number, done: (outcomes: Record<string, Outcome>) => void): void {
  const outcomes: Record<string, Outcome> = {};
  const waiting = new Map<string, (() => void)[]>();
  const fire = (who: string, on: "answered" | "done"): void => {
    for (const f of waiting.get(`${who}:${on}`) ?? []) f();
    waiting.delete(`${who}:${on}`);
  };
  c.steps.forEach((step, index) => {
    const options: SyncClientOptions = {
      ...CLIENT_DEFAULTS, server, port, type: step.type, name: "conformance",
      count: step.count ?? 0, error: step.error ?? 0, noWait: step.noWait ?? false, extended: step.extended ?? true,
      deadlineMs: step.deadlineMs ?? 0, extra: step.extra ?? "new", crash: step.crash ?? "original", timeoutUs: (step.timeoutMs ?? 0) * 1000,
      onDone: (o) => {
        outcomes[step.who] = { code: o.code, source: o.source };
        fire(step.who, "done");
        if (Object.keys(outcomes).length === c.steps.length) done(outcomes);
      },
    };
    const go = (): void => stage.start(index, step, options, () => fire(step.who, "answered"));
    if (step.after === undefined) go();
    else waiting.set(`${step.after.who}:${step.after.on}`, [...(waiting.get(`${step.after.who}:${step.after.on}`) ?? []), go]);
  });
}

/** A client that says, once, when the server first answered it (a pending reply, or the outcome). */
function watched(client: SyncClient, answered: () => void): Process {
  let told = false;
  return {
    start: () => client.start(),
    timer: (id) => client.timer(id),
    receive: (from, port, payload) => {
      client.receive(from, port, payload);
      if (!told && (client.epoch !== null || client.outcome !== null)) {
        told = true;
        answered();
      }
    },
  };
}

const LINK = { bandwidthBps: 1e9, latencyUs: 100, queueBytesMax: 1 << 20 };
const SIM_RUN_US: Micros = 120_000_000;

function runSim(c: Case, seed: number): Record<string, Outcome> {
  const world = new World(seed);
  const server = world.addHost("server", LINK);
  world.install(server, SYNC_PORT, (env) => new SyncDaemon(env));
  const hosts = c.steps.map((s) => world.addHost(s.who, LINK));
  let result: Record<string, Outcome> | null = null;
  const stage: Stage = {
    start: (index, _step, options, answered) =>
      // From inside the simulation: the next event, so a dependency never runs inside another's input.
      world.call(world.now(), () => world.install(hosts[index]!, 30_000, (env: Env) => watched(new SyncClient(env, options), answered))),
  };
  schedule(c, stage, server.id, SYNC_PORT, (o) => (result = o));
  world.run(SIM_RUN_US);
  if (result === null) throw new Error(`${c.name}: not every participant had an outcome in the simulator`);
  return result;
}

let real: RunningSyncServer | null = null;
afterEach(async () => {
  await real?.close();
  real = null;
});

async function runReal(c: Case): Promise<Record<string, Outcome>> {
  real = await startSyncServer({ port: 0, host: "127.0.0.1", tcp: false, udp: true, events: { emit: () => {} } });
  const loopback = ipv4ToAddress("127.0.0.1") as number;
  const opened: { net: UdpNet; timers: WallTimers }[] = [];
  const outcome = await new Promise<Record<string, Outcome>>((resolve) => {
    const stage: Stage = {
      start: (_index, _step, options, answered) => {
        const net = new UdpNet(loopback);
        let process: Process | null = null;
        const { env, timers } = realEnv(net, { emit: () => {} }, freshSeed(), () => process);
        opened.push({ net, timers });
        const p = watched(new SyncClient(env, options), answered);
        process = p;
        net.receive = (from, port, bytes) => p.receive?.(from, port, bytes);
        void net.bind(0, "127.0.0.1").then(() => p.start?.());
      },
    };
    schedule(c, stage, loopback, real!.udpPort as number, resolve);
  });
  for (const { net, timers } of opened) {
    timers.close();
    await net.flush();
    net.close();
  }
  return outcome;
}

describe("the sync machines in the simulator and on loopback UDP", () => {
  for (const [k, c] of CASES.entries()) {
    it(`${c.name}: both worlds give every participant the same outcome`, async () => {
      expect(runSim(c, 500 + k)).toEqual(c.expect);
      expect(await runReal(c)).toEqual(c.expect);
    });
  }
});
