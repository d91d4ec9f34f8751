import { createSocket, type Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ownSocketInodes, udpDropsOf } from "../../../real/runtime/socket-drops.js";
import { ownUdpDrops } from "../../../real/runtime/index.js";
import { titled } from "../../support/probes.js";

const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  112: 0100007F:1F0E 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  113: 0100007F:1F0F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 5
  114: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 300
`;

describe("the drops on our own UDP sockets", () => {
  it("sums the drops column of our sockets' rows only, counted from the end of the row", () => {
    const inodes = ownSocketInodes(["socket:[4242]", "pipe:[4243]", "/dev/null", null, "socket:[4243]"]);
    expect([...inodes].sort()).toEqual([4242, 4243]);
    expect(udpDropsOf(PROC_NET_UDP, inodes)).toEqual({ sockets: 2, drops: 22 });
    // Another program's socket (inode 999) is not ours; the header is not a row.
    expect(udpDropsOf(PROC_NET_UDP, new Set([999]))).toEqual({ sockets: 1, drops: 300 });
    expect(udpDropsOf(PROC_NET_UDP, new Set([1]))).toEqual({ sockets: 0, drops: 0 });
    expect(udpDropsOf("garbage\nnot a row\n", new Set([4242]))).toEqual({ sockets: 0, drops: 0 });
  });

  const noProc = existsSync("/proc/self/net/udp") ? null : "no /proc/self/net/udp (not Linux)";
  it.skipIf(noProc !== null)(titled("counts what the kernel dropped for a full receive buffer on a socket we hold", noProc), async () => {
    const receiver = createSocket({ type: "udp4" });
    const sender = createSocket({ type: "udp4" });
    try {
      await new Promise<void>((resolve) => receiver.bind(0, "127.0.0.1", resolve));
      receiver.setRecvBufferSize(4096);
      const before = ownUdpDrops();
      expect(before).not.toBeNull();
      await connect(sender, receiver.address().port);
      // Sent in one turn of the event loop: the receiver reads nothing meanwhile, its small buffer overflows.
      const payload = new Uint8Array(1024);
      for (let i = 0; i < 500; i++) sender.send(payload);
      await new Promise<void>((resolve) => sender.send(payload, () => resolve()));
      expect(ownUdpDrops()).toBeGreaterThan(before as number);
    } finally {
      receiver.close();
      sender.close();
    }
  });
});

function connect(socket: Socket, port: number): Promise<void> {
  return new Promise((resolve) => socket.connect(port, "127.0.0.1", () => resolve()));
}
