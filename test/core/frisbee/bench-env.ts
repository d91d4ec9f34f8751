import { createRng, type Address, type Env, type Micros, type Payload, type Process } from "../../../core/engine/index.js";
import type { FrisbeeMessage } from "../../../core/frisbee/messages.js";

/**
 * One Frisbee machine on a bench: its env records what it sends, arms, reads, writes and runs,
 * and the test plays its world (messages in, timers fired, disk and CPU completions) by hand.
 * Much faster than a World, and every input and output is visible, so a test can pin the
 * machine's exact answer to each input.
 */
export interface Sent {
  atUs: Micros;
  to: Address;
  port: number;
  message: FrisbeeMessage;
}

export interface Op {
  atUs: Micros;
  op: number;
  offset: number;
  /** Bytes to read or write (a write of data: its length). */
  bytes: number;
}

export class Bench {
  nowUs: Micros = 0;
  readonly sent: Sent[] = [];
  readonly timers = new Map<number, Micros>();
  readonly events: { atUs: Micros; kind: string; fields: Record<string, unknown> }[] = [];
  readonly reads: Op[] = [];
  readonly writes: Op[] = [];
  readonly cpuRuns: { op: number; work: string; units: number }[] = [];
  readonly joined: Address[] = [];
  process: Process | null = null;

  constructor(
    readonly self: Address,
    private readonly ports: { disk?: boolean; cpu?: boolean } = {},
    seed = 1,
  ) {
    this.rngSeed = seed;
  }

  private readonly rngSeed: number;

  env(): Env {
    const bench = this;
    const env: Env = {
      now: () => bench.nowUs,
      rng: createRng(this.rngSeed),
      net: {
        self: this.self,
        send: (to, port, payload) => bench.sent.push({ atUs: bench.nowUs, to, port, message: payload as FrisbeeMessage }),
        join: (group) => bench.joined.push(group),
        leave: () => {},
      },
      timers: {
        set: (id, at) => bench.timers.set(id, at),
        cancel: (id) => bench.timers.delete(id),
      },
      events: { emit: (kind, fields) => bench.events.push({ atUs: bench.nowUs, kind, fields: { ...fields } }) },
    };
    if (this.ports.disk === true) {
      env.disk = {
        sizeBytes: 2 ** 40,
        read: (op, offset, length) => bench.reads.push({ atUs: bench.nowUs, op, offset, bytes: length }),
        write: (op, offset, data) => bench.writes.push({ atUs: bench.nowUs, op, offset, bytes: typeof data === "number" ? data : data.byteLength }),
      };
    }
    if (this.ports.cpu === true) env.cpu = { run: (op, work, units) => bench.cpuRuns.push({ op, work, units }) };
    return env;
  }

  /** Makes the machine from this bench's env and starts it at time 0. */
  start<P extends Process>(make: (env: Env) => P): P {
    const p = make(this.env());
    this.process = p;
    p.start?.();
    return p;
  }

  /** Fires every timer due up to `untilUs`, in time order (ties by id), then sets the clock there. */
  runUntil(untilUs: Micros): void {
    for (;;) {
      let next: [number, Micros] | null = null;
      for (const [id, at] of this.timers) if (at <= untilUs && (next === null || at < next[1])) next = [id, at];
      if (next === null) break;
      this.timers.delete(next[0]);
      this.nowUs = Math.max(this.nowUs, next[1]);
      this.process?.timer?.(next[0]);
    }
    this.nowUs = Math.max(this.nowUs, untilUs);
  }

  /** Delivers a message (or bytes) at the current time. */
  receive(from: Address, payload: Payload, fromPort = 7700): void {
    this.process?.receive?.(from, fromPort, payload);
  }

  /** What was sent since the last take, and clears the record. */
  take(): Sent[] {
    return this.sent.splice(0, this.sent.length);
  }

  eventsOf(kind: string): Record<string, unknown>[] {
    return this.events.filter((e) => e.kind === kind).map((e) => e.fields);
  }
}
