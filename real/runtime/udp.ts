import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv4 } from "node:net";
import { groupAddress, type Address, type Net, type Payload, type Rng, type WireMessage } from "../../core/engine/index.js";
import { ipv4ToAddress } from "./ipv4.js";
import { NetError } from "./net-error.js";

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
  /** The interface's IPv4 address for membership and sending; null: the address the kernel sends to the group from. */
  iface: string | null;
  /**
   * A server: the protocol port on our address is ours alone (a second server there is refused).
   * A client takes it if it is free, else sends from a port the kernel picks (see MulticastNet).
   */
  ownPort: boolean;
  /**
   * Send to the group through a socket connected to it (a server's blocks): a connected socket
   * skips the address lookup per datagram. It hears only its group, so a process whose group
   * messages are answered by unicast (a client's JOIN) sends from its unicast socket instead.
   */
  fastGroupSend: boolean;
  /** Drop this fraction of arriving datagrams, drawn from `rng` (the kernel here has no netem). */
  dropRate?: number;
  /** Drop this fraction of the datagrams we send (loss at a server: every receiver misses the same ones). */
  sendDropRate?: number;
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
  /** Datagrams we did not send, for sendDropRate. */
  sendDropped: number;
  sendErrors: number;
  unknownPeers: number;
}

export { NetError };

export type Receiver = (from: Address, fromPort: number, bytes: Uint8Array) => void;

/**
 * The Net port over UDP multicast, sending from the protocol's port as the original programs do
 * (they drop every datagram whose source port is not theirs). Sockets:
 * - one bound to the group and port, shared (SO_REUSEADDR) so that a server and clients on one
 *   host all hear the group, with loopback on;
 * - one bound to our address and the port, for what we send and the unicast replies to it: a
 *   server holds it against any other server; a client takes it when it is free and otherwise
 *   (another of our processes on this address holds it) sends from a port the kernel picks,
 *   which our own programs accept (`fromProtocolPort` says which). Several processes on one host
 *   each send from the port when each has an address of its own (127.0.0.x on loopback);
 * - for a server's blocks, one more bound to the same address and port (both shared, the
 *   exclusivity checked first) and connected to the group: a connected socket skips the
 *   per-datagram address lookup, and sends without a callback go out synchronously.
 * Peers are numbered by IPv4 address; our own multicast copies are dropped, as a switch does.
 */
export class MulticastNet implements Net {
  readonly self: Address = 0;
  readonly stats: NetStats = { received: 0, dropped: 0, sent: 0, sendDropped: 0, sendErrors: 0, unknownPeers: 0 };
  /** Our IPv4 address as a number (the interface's, or the one the kernel sends to the group from). */
  readonly ownIpv4: number;
  private readonly peerIds = new Map<string, number>();
  private readonly peerIps: string[] = ["0.0.0.0"];
  private receiver: Receiver = () => {};

  private constructor(
    private readonly options: MulticastOptions,
    /** Our address, dotted. */
    readonly address: string,
    private readonly sockets: Socket[],
    private readonly unicastSocket: Socket,
    private readonly groupSender: Socket | null,
    /** The port we send from: the protocol's, or the kernel's choice when another process held it. */
    readonly localPort: number,
  ) {
    this.ownIpv4 = ipv4ToAddress(address) ?? 0;
    for (const socket of sockets) {
      socket.on("message", (bytes, rinfo) => this.arrived(bytes, rinfo));
      socket.on("error", () => this.stats.sendErrors++);
    }
  }

  /** We send from the protocol's port (else another of our processes on this address holds it). */
  get fromProtocolPort(): boolean {
    return this.localPort === this.options.port;
  }

  static async open(options: MulticastOptions): Promise<MulticastNet> {
    for (const [what, ip] of [["group", options.group], ["interface", options.iface]] as const) {
      if (ip !== null && !isIPv4(ip)) throw new NetError(`${what} ${ip} is not an IPv4 address`, true);
    }
    const first = Number(options.group.split(".")[0]);
    if (!(first >= 224 && first <= 239)) throw new NetError(`group ${options.group} is not a multicast address (224.0.0.0 to 239.255.255.255)`, true);
    const address = options.iface ?? (await sourceAddress(options.group, options.port));
    const sockets: Socket[] = [];
    const adopt = (s: Socket): Socket => {
      sockets.push(s);
      return s;
    };
    const made = (reuseAddr: boolean): Socket => adopt(createSocket({ type: "udp4", reuseAddr }));
    try {
      const groupSocket = made(true);
      await bind(groupSocket, options.port, options.group);
      groupSocket.addMembership(options.group, options.iface ?? undefined);
      const { socket: unicastSocket, port } = await ownSocket(options, address, made, adopt);
      const groupSender = options.fastGroupSend ? made(true) : null;
      if (groupSender !== null) await bind(groupSender, port, address);
      for (const s of groupSender === null ? [unicastSocket] : [unicastSocket, groupSender]) {
        s.setMulticastInterface(address);
        s.setMulticastLoopback(true);
        s.setMulticastTTL(1);
      }
      if (groupSender !== null) await connect(groupSender, options.port, options.group);
      for (const s of sockets) {
        s.setRecvBufferSize(SOCKET_BUFFER_BYTES);
        s.setSendBufferSize(SOCKET_BUFFER_BYTES);
      }
      return new MulticastNet(options, address, sockets, unicastSocket, groupSender, port);
    } catch (error) {
      for (const s of sockets) s.close();
      throw new NetError(describe(error, options), (error as { code?: string }).code === "EADDRNOTAVAIL");
    }
  }

  onReceive(receiver: Receiver): void {
    this.receiver = receiver;
  }


  send(to: Address, port: number, payload: Payload): void {
    const ip = to === GROUP ? this.options.group : this.peerIps[to];
    if (ip === undefined || to === this.self) throw new Error(`no address for peer ${to}`);
    const rate = this.options.sendDropRate ?? 0;
    if (rate > 0 && this.options.rng !== undefined && this.options.rng.next() < rate) {
      this.stats.sendDropped++;
      return;
    }
    const bytes = payload instanceof Uint8Array ? payload : this.encoded(payload);
    this.stats.sent++;
    // No callback: the datagram goes out at once when it can (errors arrive as "error" events, counted).
    if (to === GROUP && port === this.options.port && this.groupSender !== null) this.groupSender.send(bytes);
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
    for (const s of this.sockets) {
      try {
        s.close();
      } catch {
        // Already closed.
      }
    }
  }

  private arrived(bytes: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.port === this.localPort && rinfo.address === this.address) return;
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

/**
 * The socket we send from and hear unicast replies on, bound to our address and the protocol port.
 * A server's is shared with its block sender, so first a plain bind proves nobody else holds the
 * port there (a second server is refused). A client whose port is held (by a server or another
 * client on this address) takes one the kernel picks.
 */
async function ownSocket(options: MulticastOptions, address: string, made: (reuseAddr: boolean) => Socket, adopt: (s: Socket) => Socket): Promise<{ socket: Socket; port: number }> {
  if (options.ownPort) {
    const probe = createSocket({ type: "udp4" });
    try {
      await bind(probe, options.port, address);
    } finally {
      probe.close();
    }
    const socket = made(options.fastGroupSend);
    await bind(socket, options.port, address);
    return { socket, port: options.port };
  }
  const taken = createSocket({ type: "udp4" });
  try {
    await bind(taken, options.port, address);
    return { socket: adopt(taken), port: options.port };
  } catch (error) {
    taken.close();
    if ((error as { code?: string }).code !== "EADDRINUSE") throw error;
  }
  const fallback = made(false);
  await bind(fallback, 0, address);
  return { socket: fallback, port: fallback.address().port };
}

/** The address the kernel sends to `group` from (a connected socket's own address); 0.0.0.0 if there is no route. */
async function sourceAddress(group: string, port: number): Promise<string> {
  const probe = createSocket({ type: "udp4" });
  try {
    await connect(probe, port, group);
    return probe.address().address;
  } catch {
    return "0.0.0.0";
  } finally {
    probe.close();
  }
}

function connect(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.connect(port, address, () => {
      socket.off("error", reject);
      resolve();
    });
  });
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
