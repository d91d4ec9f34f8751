import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv4 } from "node:net";
import { groupAddress, type Address, type Net, type Payload, type Rng, type WireMessage } from "../../core/engine/index.js";
import { ipv4ToAddress } from "./ipv4.js";

/** The one group a real process talks to, as machines address it. */
export const GROUP = groupAddress(0);
/** Most distinct peers (IPv4 addresses) a process tells apart; beyond it datagrams are dropped and counted. */
export const PEERS_MAX = 65_536;
/** Socket buffers asked for; the kernel caps them at net.core.rmem_max / wmem_max. */
export const SOCKET_BUFFER_BYTES = 4 * 2 ** 20;

export interface MulticastOptions {
  /** Multicast group, dotted IPv4. */
  group: string;
  port: number;
  /** The interface's IPv4 address for membership and sending; null: the kernel's choice. */
  iface: string | null;
  /**
   * Also hold the group port on the interface for our unicast traffic, without sharing (a server):
   * a second server on the same port is refused, and clients know where replies come from.
   */
  ownPort: boolean;
  /**
   * Send to the group through the connected socket (a server's blocks). A connected socket hears only
   * its group, so a process whose group messages are answered by unicast (a client's JOIN) must not.
   */
  fastGroupSend: boolean;
  /** Drop this fraction of arriving datagrams, drawn from `rng` (the kernel here has no netem). */
  dropRate?: number;
  rng?: Rng;
  /**
   * Turns a machine's message into its datagram, given our IPv4 address as a number (machines send
   * messages; the network knows the wire format's addresses). Without it only bytes can be sent.
   */
  encode?: (message: WireMessage, ownIpv4: number) => Uint8Array;
}

export interface NetStats {
  received: number;
  dropped: number;
  sent: number;
  sendErrors: number;
  unknownPeers: number;
}

/** A failure of the outside world while opening sockets (port in use, bad address): one line for the user. */
/** A network setup that failed, one line. `badInput`: the address given was wrong (not IPv4, not multicast, not on this host). */
export class NetError extends Error {
  constructor(
    message: string,
    readonly badInput = false,
  ) {
    super(message);
    this.name = "NetError";
  }
}

export type Receiver = (from: Address, fromPort: number, bytes: Uint8Array) => void;

/**
 * The Net port over UDP multicast. Three sockets: one bound to the group and port, shared
 * (SO_REUSEADDR) so that a server and clients on one host all hear the group, with loopback on;
 * one for unicast traffic, so that replies reach exactly the process that asked; and one connected
 * to the group for sending to it (a connected socket skips the per-datagram address lookup, and
 * sends without a callback go out synchronously: several times the datagrams per second). Peers
 * are numbered by IPv4 address; our own multicast copies are dropped, as a switch does.
 */
export class MulticastNet implements Net {
  readonly self: Address = 0;
  readonly stats: NetStats = { received: 0, dropped: 0, sent: 0, sendErrors: 0, unknownPeers: 0 };
  /** Our IPv4 address as a number: the interface's, or 0 (INADDR_ANY) when the kernel chooses. */
  readonly ownIpv4: number;
  private readonly peerIds = new Map<string, number>();
  private readonly peerIps: string[] = ["0.0.0.0"];
  private receiver: Receiver = () => {};

  private constructor(
    private readonly options: MulticastOptions,
    private readonly groupSocket: Socket,
    private readonly unicastSocket: Socket,
    private readonly groupSender: Socket,
    /** Our unicast port: replies come back to it. */
    readonly localPort: number,
    /** The port we send to the group from: our own copies come from it. */
    private readonly senderPort: number,
  ) {
    this.ownIpv4 = ipv4ToAddress(options.iface ?? "0.0.0.0") ?? 0;
    for (const socket of [groupSocket, unicastSocket, groupSender]) {
      socket.on("message", (bytes, rinfo) => this.arrived(bytes, rinfo));
      socket.on("error", () => this.stats.sendErrors++);
    }
  }

  static async open(options: MulticastOptions): Promise<MulticastNet> {
    for (const [what, ip] of [["group", options.group], ["interface", options.iface]] as const) {
      if (ip !== null && !isIPv4(ip)) throw new NetError(`${what} ${ip} is not an IPv4 address`, true);
    }
    const first = Number(options.group.split(".")[0]);
    if (!(first >= 224 && first <= 239)) throw new NetError(`group ${options.group} is not a multicast address (224.0.0.0 to 239.255.255.255)`, true);
    const groupSocket = createSocket({ type: "udp4", reuseAddr: true });
    const unicastSocket = createSocket({ type: "udp4" });
    const groupSender = createSocket({ type: "udp4" });
    const sockets = [groupSocket, unicastSocket, groupSender];
    try {
      await bind(groupSocket, options.port, options.group);
      groupSocket.addMembership(options.group, options.iface ?? undefined);
      // Without an interface the port cannot be held apart from the shared group socket.
      await bind(unicastSocket, options.ownPort && options.iface !== null ? options.port : 0, options.iface ?? undefined);
      await bind(groupSender, 0, options.iface ?? undefined);
      for (const s of [unicastSocket, groupSender]) {
        if (options.iface !== null) s.setMulticastInterface(options.iface);
        s.setMulticastLoopback(true);
        s.setMulticastTTL(1);
      }
      await new Promise<void>((resolve, reject) => {
        groupSender.once("error", reject);
        groupSender.connect(options.port, options.group, () => {
          groupSender.off("error", reject);
          resolve();
        });
      });
      for (const s of sockets) {
        s.setRecvBufferSize(SOCKET_BUFFER_BYTES);
        s.setSendBufferSize(SOCKET_BUFFER_BYTES);
      }
    } catch (error) {
      for (const s of sockets) s.close();
      throw new NetError(describe(error, options), (error as { code?: string }).code === "EADDRNOTAVAIL");
    }
    return new MulticastNet(options, groupSocket, unicastSocket, groupSender, unicastSocket.address().port, groupSender.address().port);
  }

  onReceive(receiver: Receiver): void {
    this.receiver = receiver;
  }


  send(to: Address, port: number, payload: Payload): void {
    const bytes = payload instanceof Uint8Array ? payload : this.encoded(payload);
    const ip = to === GROUP ? this.options.group : this.peerIps[to];
    if (ip === undefined || to === this.self) throw new Error(`no address for peer ${to}`);
    this.stats.sent++;
    // No callback: the datagram goes out at once when it can (errors arrive as "error" events, counted).
    if (to === GROUP && port === this.options.port && this.options.fastGroupSend) this.groupSender.send(bytes);
    else this.unicastSocket.send(bytes, port, ip);
  }

  private encoded(message: WireMessage): Uint8Array {
    if (this.options.encode === undefined) throw new Error(`a real network sends bytes, not a ${message.type} object, without an encoder`);
    return this.options.encode(message, this.ownIpv4);
  }

  join(group: Address): void {
    if (group !== GROUP) throw new Error(`a real process talks to one group, not ${group}`);
  }

  leave(group: Address): void {
    if (group !== GROUP) throw new Error(`a real process talks to one group, not ${group}`);
  }

  /** The IPv4 address behind a peer's number (for logs). */
  peerIp(peer: Address): string {
    return this.peerIps[peer] ?? "?";
  }

  close(): void {
    for (const s of [this.groupSocket, this.unicastSocket, this.groupSender]) {
      try {
        s.close();
      } catch {
        // Already closed.
      }
    }
  }

  private arrived(bytes: Buffer, rinfo: RemoteInfo): void {
    const ours = rinfo.port === this.senderPort || rinfo.port === this.localPort;
    if (ours && (this.options.iface === null || rinfo.address === this.options.iface)) return;
    this.stats.received++;
    const rate = this.options.dropRate ?? 0;
    if (rate > 0 && this.options.rng !== undefined && this.options.rng.next() < rate) {
      this.stats.dropped++;
      return;
    }
    const from = this.peerId(rinfo.address);
    if (from < 0) return;
    this.receiver(from, rinfo.port, bytes);
  }

  private peerId(ip: string): number {
    const known = this.peerIds.get(ip);
    if (known !== undefined) return known;
    if (this.peerIps.length > PEERS_MAX) {
      this.stats.unknownPeers++;
      return -1;
    }
    const id = this.peerIps.length;
    this.peerIps.push(ip);
    this.peerIds.set(ip, id);
    return id;
  }
}

function bind(socket: Socket, port: number, address: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, address, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}

function describe(error: unknown, options: MulticastOptions): string {
  const code = (error as { code?: string }).code;
  const where = `${options.iface ?? "any interface"}, group ${options.group}`;
  if (code === "EADDRINUSE") return `UDP port ${options.port} is already in use (${where})`;
  if (code === "EADDRNOTAVAIL") return `address not available for UDP port ${options.port} (${where})`;
  if (code === "EACCES") return `no permission to use UDP port ${options.port}`;
  return `cannot open UDP port ${options.port} (${where}): ${error instanceof Error ? error.message : String(error)}`;
}
