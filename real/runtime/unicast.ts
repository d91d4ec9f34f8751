import { createSocket, type Socket } from "node:dgram";
import type { Address, Net, Payload } from "../../core/engine/index.js";
import { addressToIpv4, ipv4ToAddress } from "./ipv4.js";

/** Socket buffers asked for; the kernel caps them at net.core.rmem_max / wmem_max. */
const UNICAST_BUFFER_BYTES = 8 << 20;

/**
 * A unicast UDP socket as the Net port: addresses are IPv4 numbers. Datagrams are handed to
 * `receive` on the event loop, one at a time. The socket buffers are enlarged so a burst of
 * replies is not lost.
 */
export class UdpNet implements Net {
  private sock: Socket;
  receive: (from: Address, fromPort: number, bytes: Uint8Array) => void = () => {};
  readonly stats = { sent: 0, received: 0, sendErrors: 0, foreign: 0 };
  private sending = 0;
  private drained: (() => void)[] = [];

  constructor(readonly self: Address) {
    this.sock = this.open();
  }

  get socket(): Socket {
    return this.sock;
  }

  /** Binds; after a failure the socket is replaced, so `bind` may be tried again (another port). */
  bind(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        this.sock.close();
        this.sock = this.open();
        reject(error);
      };
      this.sock.once("error", onError);
      this.sock.bind(port, host, () => {
        this.sock.off("error", onError);
        try {
          this.sock.setRecvBufferSize(UNICAST_BUFFER_BYTES);
          this.sock.setSendBufferSize(UNICAST_BUFFER_BYTES);
        } catch {
          // The kernel's ceiling (net.core.rmem_max) applies; a smaller buffer only costs retries.
        }
        resolve(this.sock.address().port);
      });
    });
  }

  send(to: Address, port: number, payload: Payload): void {
    if (!(payload instanceof Uint8Array)) throw new Error("real UDP sends bytes only");
    this.stats.sent++;
    this.sending++;
    this.sock.send(payload, port, addressToIpv4(to), (error) => {
      if (error) this.stats.sendErrors++;
      if (--this.sending === 0) for (const done of this.drained.splice(0)) done();
    });
  }

  /** Resolves once every datagram handed to `send` so far has left (or failed). */
  flush(): Promise<void> {
    return this.sending === 0 ? Promise.resolve() : new Promise((resolve) => this.drained.push(resolve));
  }

  join(): void {}
  leave(): void {}

  close(): void {
    this.sock.close();
  }

  private open(): Socket {
    const socket = createSocket({ type: "udp4", reuseAddr: false });
    socket.on("message", (msg, rinfo) => {
      const from = ipv4ToAddress(rinfo.address);
      if (from === null) {
        this.stats.foreign++;
        return;
      }
      this.stats.received++;
      this.receive(from, rinfo.port, new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    });
    socket.on("error", () => void this.stats.sendErrors++);
    return socket;
  }
}
