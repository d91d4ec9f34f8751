import { createSocket, type Socket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { createRng, type Address, type Env, type EventSink, type Micros, type Net, type Payload, type Process, type Timers } from "../../core/engine/index.js";

/** Integer microseconds since this clock was made, never going back. */
export function monotonicUs(): () => Micros {
  const startNs = process.hrtime.bigint();
  return () => Number((process.hrtime.bigint() - startNs) / 1000n);
}

/** The Timers port on Node's timers; a timer that fires early is re-armed, so it is never early. */
export class NodeTimers implements Timers {
  private readonly armed = new Map<number, NodeJS.Timeout>();

  constructor(private readonly now: () => Micros, private readonly fire: (id: number) => void) {}

  set(id: number, at: Micros): void {
    this.cancel(id);
    const handle = setTimeout(() => {
      this.armed.delete(id);
      if (this.now() < at) this.set(id, at);
      else this.fire(id);
    }, Math.max(0, Math.ceil((at - this.now()) / 1000)));
    this.armed.set(id, handle);
  }

  cancel(id: number): void {
    const handle = this.armed.get(id);
    if (handle !== undefined) clearTimeout(handle);
    this.armed.delete(id);
  }

  close(): void {
    for (const handle of this.armed.values()) clearTimeout(handle);
    this.armed.clear();
  }
}

export function ipv4ToAddress(ip: string): Address | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (m === null) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return (((parts[0] as number) << 24) >>> 0) + ((parts[1] as number) << 16) + ((parts[2] as number) << 8) + (parts[3] as number);
}

export function addressToIpv4(a: Address): string {
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");
}

/** An unseeded run still has an explicit seed: drawn from the OS, and returned so it can be logged. */
export function freshSeed(): string {
  return randomBytes(8).toString("hex");
}

/**
 * A UDP socket as the Net port: addresses are IPv4 numbers. Datagrams are handed to `receive`
 * on the event loop, one at a time. The socket buffer is enlarged so a burst of replies is not lost.
 */
export class UdpNet implements Net {
  readonly socket: Socket;
  receive: (from: Address, fromPort: number, bytes: Uint8Array) => void = () => {};
  readonly stats = { sent: 0, received: 0, sendErrors: 0, foreign: 0 };

  constructor(readonly self: Address) {
    this.socket = createSocket({ type: "udp4", reuseAddr: false });
    this.socket.on("message", (msg, rinfo) => {
      const from = ipv4ToAddress(rinfo.address);
      if (from === null) {
        this.stats.foreign++;
        return;
      }
      this.stats.received++;
      this.receive(from, rinfo.port, new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    });
    this.socket.on("error", () => void this.stats.sendErrors++);
  }

  bind(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.socket.once("error", onError);
      this.socket.bind(port, host, () => {
        this.socket.off("error", onError);
        try {
          this.socket.setRecvBufferSize(8 << 20);
          this.socket.setSendBufferSize(8 << 20);
        } catch {
          // The kernel's ceiling (net.core.rmem_max) applies; a smaller buffer only costs retries.
        }
        resolve(this.socket.address().port);
      });
    });
  }

  send(to: Address, port: number, payload: Payload): void {
    if (!(payload instanceof Uint8Array)) throw new Error("real UDP sends bytes only");
    this.stats.sent++;
    this.socket.send(payload, port, addressToIpv4(to), (error) => {
      if (error) this.stats.sendErrors++;
    });
  }

  join(): void {}
  leave(): void {}

  close(): void {
    this.socket.close();
  }
}

/** An Env on the wall clock for one machine, with its timers wired to the machine. */
export function realEnv(net: Net, events: EventSink, seed: string, target: () => Process | null): { env: Env; timers: NodeTimers } {
  const now = monotonicUs();
  const timers = new NodeTimers(now, (id) => target()?.timer?.(id));
  return { env: { now, rng: createRng(seed), net, timers, events }, timers };
}
