import { createSocket, type Socket } from "node:dgram";
import type { Address, Net, Payload } from "../../core/engine/index.js";
import { addressToIpv4, ipv4ToAddress } from "./ipv4.js";

/**
 * A unicast UDP socket as the Net port: addresses are IPv4 numbers. Datagrams are handed to
 * `receive` on the event loop, one at a time. The socket buffers are enlarged so a burst of
 * replies is not lost.
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
