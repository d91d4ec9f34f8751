import type { Address, Env, EventSink, Payload, Process } from "../../core/engine/index.js";

/** Timer ids and operation ids of one life are below these; the life's number sits above them. */
const TIMER_SPAN = 1 << 10;
const OP_SPAN = 1 << 24;
/** Lives one port may have before its ids would lose precision (2^53 / OP_SPAN). */
export const SLOT_LIVES_MAX = 2 ** 28;

/**
 * A port whose machine is replaced from outside: a node reloading runs a new Frisbee client on the
 * same port, an image server stops and starts again. The machines never learn of it: each life's
 * timer ids and disk and CPU operation ids carry its number, so a former life's late timer or
 * completion is dropped here, and its group memberships are left when it ends.
 */
export class ReplaceableProcess implements Process {
  private inner: Process | null = null;
  private life = 0;
  private readonly groups = new Set<Address>();

  constructor(private readonly env: Env) {}

  get running(): boolean {
    return this.inner !== null;
  }

  /** Ends the current life (if any) and, given a factory, starts the next with `events` as its sink. */
  replace(make: ((env: Env) => Process) | null, events: EventSink = this.env.events): void {
    this.inner?.stop?.();
    this.inner = null;
    for (const g of this.groups) this.env.net.leave(g);
    this.groups.clear();
    this.life++;
    if (this.life >= SLOT_LIVES_MAX) throw new Error("a replaceable port ran out of lives");
    if (make === null) return;
    this.inner = make(this.lifeEnv(this.life, events));
    this.inner.start?.();
  }

  receive(from: Address, fromPort: number, payload: Payload): void {
    this.inner?.receive?.(from, fromPort, payload);
  }

  timer(id: number): void {
    if (Math.floor(id / TIMER_SPAN) === this.life) this.inner?.timer?.(id % TIMER_SPAN);
  }

  diskDone(op: number, error: string | null, data?: Uint8Array): void {
    if (Math.floor(op / OP_SPAN) === this.life) this.inner?.diskDone?.(op % OP_SPAN, error, data);
  }

  cpuDone(op: number): void {
    if (Math.floor(op / OP_SPAN) === this.life) this.inner?.cpuDone?.(op % OP_SPAN);
  }

  private lifeEnv(life: number, events: EventSink): Env {
    const env = this.env;
    const timerBase = life * TIMER_SPAN;
    const opBase = life * OP_SPAN;
    const wrapped: Env = {
      now: () => env.now(),
      rng: env.rng.fork(`life:${life}`),
      net: {
        self: env.net.self,
        send: (to, port, payload) => env.net.send(to, port, payload),
        join: (group) => {
          this.groups.add(group);
          env.net.join(group);
        },
        leave: (group) => {
          this.groups.delete(group);
          env.net.leave(group);
        },
      },
      timers: {
        set: (id, at) => {
          if (!(id >= 0 && id < TIMER_SPAN)) throw new Error(`timer id ${id} out of a life's range`);
          env.timers.set(timerBase + id, at);
        },
        cancel: (id) => env.timers.cancel(timerBase + id),
      },
      events,
    };
    const disk = env.disk;
    if (disk !== undefined) {
      wrapped.disk = {
        sizeBytes: disk.sizeBytes,
        write: (op, offset, data) => disk.write(opBase + checkOp(op), offset, data),
        read: (op, offset, length) => disk.read(opBase + checkOp(op), offset, length),
      };
    }
    const cpu = env.cpu;
    if (cpu !== undefined) wrapped.cpu = { run: (op, work, units) => cpu.run(opBase + checkOp(op), work, units) };
    return wrapped;
  }
}

function checkOp(op: number): number {
  if (!(Number.isInteger(op) && op >= 0 && op < OP_SPAN)) throw new Error(`operation id ${op} out of a life's range`);
  return op;
}
