import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { epochNowUs } from "../runtime/clock.js";
import type { Micros } from "../../core/engine/index.js";
import { PeerLink, type PeerAddress, type PeerLinkOptions, type PeerMeshStatus } from "./peers.js";

/**
 * The agent's heartbeat socket: UDP on the agent's own address and port number (TCP and UDP ports
 * are separate), so a node file names both. Slots are seconds of the epoch clock, so agents on
 * machines whose clocks agree (NTP) count the same slots. A peer named by a host name is looked up
 * once, when the list arrives; datagrams are matched to peers by source address and port.
 */
export interface PeerMeshOptions extends PeerLinkOptions {
  readonly host: string;
  readonly port: number;
  readonly log: (line: string) => void;
  readonly now?: () => Micros;
  /** Told the peers to use whenever that set changes (checked once a period, after the heartbeats go out). */
  readonly onUsable?: (peers: readonly PeerAddress[]) => void;
}

export class PeerMesh {
  readonly link: PeerLink;
  private socket: Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastSlot = -1;
  private lastUsable: string | null = null;
  private readonly now: () => Micros;

  constructor(private readonly o: PeerMeshOptions) {
    this.link = new PeerLink(o);
    this.now = o.now ?? epochNowUs;
  }

  /** Binds the socket; a failure (the UDP port taken) is logged and shown in the status, and the agent serves on without heartbeats. */
  async start(): Promise<void> {
    const socket = createSocket({ type: isIP(this.o.host) === 6 ? "udp6" : "udp4" });
    socket.on("message", (bytes, from) => this.link.receive(this.now(), bytes, from.address, from.port));
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind(this.o.port, this.o.host, () => {
          socket.off("error", reject);
          resolve();
        });
      });
    } catch (error) {
      socket.close();
      this.link.error = `no heartbeats: cannot bind udp ${this.o.host}:${this.o.port} (${(error as Error).message})`;
      this.o.log(`peers.error why=${JSON.stringify(this.link.error)}`);
      return;
    }
    socket.on("error", (e) => this.o.log(`peers.socket-error why=${JSON.stringify(e.message)}`));
    this.socket = socket;
    this.arm();
  }

  async setPeers(list: readonly PeerAddress[], self: number): Promise<void> {
    const resolved = await Promise.all(list.map(async (p) => (isIP(p.host) !== 0 ? p : { ...p, host: (await lookup(p.host, { family: isIP(this.o.host) === 6 ? 6 : 4 })).address })));
    this.link.setPeers(resolved, self);
  }

  status(): PeerMeshStatus {
    return this.link.status(this.now());
  }

  private arm(): void {
    if (this.closed || this.socket === null) return;
    const now = this.now();
    const delayMs = Math.max(0, Math.ceil((this.link.nextSendUs(now) - now) / 1000));
    this.timer = setTimeout(() => {
      const socket = this.socket;
      // One round per slot, even if the clock stepped back or the timer came a little early.
      const slot = Math.floor(this.now() / this.link.rule.periodUs);
      if (socket !== null && slot !== this.lastSlot) {
        this.lastSlot = slot;
        // A send that fails (no route) is the peer's silence: its heartbeats will be missed.
        for (const out of this.link.tick()) socket.send(out.bytes, out.port, out.host, () => {});
        this.publishUsable();
      }
      this.arm();
    }, delayMs);
    this.timer.unref();
  }

  /** Tells onUsable the peers to use, if they changed (a peer was avoided or came back). */
  private publishUsable(): void {
    if (this.o.onUsable === undefined) return;
    const usable = this.link.usable(this.now());
    const key = usable.map((p) => `${p.name} ${p.host}:${p.port}`).join("\n");
    if (key === this.lastUsable) return;
    this.lastUsable = key;
    this.o.onUsable(usable);
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    return socket === null ? Promise.resolve() : new Promise((resolve) => socket.close(() => resolve()));
  }
}
