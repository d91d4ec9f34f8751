import type { Address, Env, Payload, Process } from "../../core/engine/index.js";
import type { Host } from "../../sim/host.js";
import type { LinkSpec } from "../../sim/link.js";
import type { World } from "../../sim/world.js";

export const MBIT = 1_000_000;

/** 100 Mbit/s, 500 us one way per link, a queue deep enough never to drop unless a test says so. */
export function link100(overrides: Partial<LinkSpec> = {}): LinkSpec {
  return { bandwidthBps: 100 * MBIT, latencyUs: 500, queueBytesMax: 10_000_000, ...overrides };
}

/** A sized message that travels without encoding. */
export function message(wireBytes: number, seq = 0): Payload {
  return { type: "test", wireBytes, seq } as Payload;
}

export function seqOf(payload: Payload): number {
  return (payload as unknown as { seq: number }).seq;
}

export interface Received {
  from: Address;
  seq: number;
  /** The receiver's local time. */
  atUs: number;
}

/**
 * A process that logs every input it gets, as text and structured, so tests can assert on order.
 * `onStart` runs at start with the env, for tests that need the process to act.
 */
export class Recorder implements Process {
  readonly log: string[] = [];
  readonly received: Received[] = [];

  constructor(
    readonly env: Env,
    private readonly onStart: (env: Env, self: Recorder) => void = () => undefined,
  ) {}

  start(): void {
    this.log.push(`start @${this.env.now()}`);
    this.onStart(this.env, this);
  }

  receive(from: Address, _fromPort: number, payload: Payload): void {
    const seq = seqOf(payload);
    this.received.push({ from, seq, atUs: this.env.now() });
    this.log.push(`receive ${seq} @${this.env.now()}`);
  }

  timer(id: number): void {
    this.log.push(`timer ${id} @${this.env.now()}`);
  }

  diskDone(op: number, error: string | null, data?: Uint8Array): void {
    this.log.push(`disk ${op} ${error ?? "ok"}${data === undefined ? "" : ` ${data.byteLength}B`} @${this.env.now()}`);
  }

  cpuDone(op: number): void {
    this.log.push(`cpu ${op} @${this.env.now()}`);
  }
}

/**
 * Installs a Recorder on `port` of `host` and returns a getter for the live one (a restart makes a
 * new one), plus every one ever made, oldest first.
 */
export function installRecorder(
  world: World,
  host: Host,
  port: number,
  onStart?: (env: Env, self: Recorder) => void,
): { current: () => Recorder; lives: Recorder[] } {
  const lives: Recorder[] = [];
  world.install(host, port, (env) => {
    const recorder = new Recorder(env, onStart);
    lives.push(recorder);
    return recorder;
  });
  return {
    current: () => {
      const last = lives[lives.length - 1];
      if (last === undefined) throw new Error("no recorder was made");
      return last;
    },
    lives,
  };
}
