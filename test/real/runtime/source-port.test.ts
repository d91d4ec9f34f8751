import { createSocket, type RemoteInfo } from "node:dgram";
import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/index.js";
import { GROUP, MulticastNet } from "../../../real/runtime/index.js";
import { endpoint, LO } from "../frisbee/support.js";
import { multicastSkipReason, titled } from "../../support/probes.js";

const noMulticast = await multicastSkipReason();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A plain socket on the group and port, as the original frisbee listens: it sees each datagram's source port. */
async function observer(e: { port: number; group: string }): Promise<{ seen: RemoteInfo[]; close: () => void }> {
  const s = createSocket({ type: "udp4", reuseAddr: true });
  await new Promise<void>((r) => s.bind(e.port, e.group, r));
  s.addMembership(e.group, LO);
  const seen: RemoteInfo[] = [];
  s.on("message", (_b, rinfo) => seen.push(rinfo));
  return { seen, close: () => s.close() };
}

describe.skipIf(noMulticast !== null)(titled("sending from the Frisbee port (the originals drop datagrams from any other: \"Bad message port\")", noMulticast), () => {
  it("a server sends its group datagrams and its replies from the protocol's port", async () => {
    const e = endpoint();
    const obs = await observer(e);
    const server = await MulticastNet.open({ ...e, iface: LO, ownPort: true, fastGroupSend: true });
    expect(server.fromProtocolPort).toBe(true);
    server.send(GROUP, e.port, Uint8Array.of(1));
    for (let i = 0; i < 50 && obs.seen.length === 0; i++) await sleep(10);
    expect(obs.seen.map((r) => [r.address, r.port])).toEqual([[LO, e.port]]);
    server.close();
    obs.close();
  });

  it("a client alone on its address sends from the protocol's port; beside a server on the same address, from another", async () => {
    const e = endpoint();
    const obs = await observer(e);
    const alone = await MulticastNet.open({ ...e, iface: LO, ownPort: false, fastGroupSend: false });
    expect(alone.fromProtocolPort).toBe(true);
    alone.send(GROUP, e.port, Uint8Array.of(2));
    for (let i = 0; i < 50 && obs.seen.length === 0; i++) await sleep(10);
    expect(obs.seen.map((r) => r.port)).toEqual([e.port]);
    alone.close();
    const server = await MulticastNet.open({ ...e, iface: LO, ownPort: true, fastGroupSend: true });
    const beside = await MulticastNet.open({ ...e, iface: LO, ownPort: false, fastGroupSend: false });
    expect(beside.fromProtocolPort).toBe(false);
    expect(beside.localPort).not.toBe(e.port);
    beside.close();
    server.close();
    obs.close();
  });

  it("drops the seeded fraction of what it sends with sendDropRate, and counts it", async () => {
    const e = endpoint();
    const obs = await observer(e);
    const server = await MulticastNet.open({ ...e, iface: LO, ownPort: true, fastGroupSend: true, sendDropRate: 0.3, rng: createRng(7) });
    for (let i = 0; i < 200; i++) server.send(GROUP, e.port, Uint8Array.of(i));
    for (let i = 0; i < 100 && obs.seen.length < server.stats.sent; i++) await sleep(10);
    expect(server.stats.sent + server.stats.sendDropped).toBe(200);
    expect(obs.seen.length).toBe(server.stats.sent);
    expect(server.stats.sendDropped).toBeGreaterThan(35);
    expect(server.stats.sendDropped).toBeLessThan(85);
    server.close();
    obs.close();
  });
});
