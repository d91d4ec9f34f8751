import { describe, expect, it } from "vitest";
import { clientsFinish, controlBounded, imageExact, maxInWindow, serverRate } from "../../scenarios/frisbee/invariants.js";
import type { FrisbeeBuilt } from "../../sim/frisbee/install.js";

/**
 * The Frisbee invariants against hand-built records of a transfer: client lives, chunk writes,
 * server counters and send times set by hand, so each check meets its edges (a second life, a
 * host that never started, chunk 0, a second server) that a simulated run reaches only by chance.
 * frisbee-invariants.test.ts breaks a simulated run instead.
 */

const MiB = 2 ** 20;

const serverDecl = (compressedBytes: number, uncompressedBytes: number, dynamic = false) => ({
  host: 0, group: 1, port: 7000, compressedBytes, uncompressedBytes,
  pacing: { burstPackets: 4, burstGapUs: 1000 }, dynamic, idleExitUs: 0, progressRequest: null,
});
const clientsDecl = (server: number, leaveAtUs: number | null = null) => ({
  hosts: [], server, startUs: 0, start: { kind: "simultaneous" }, heartbeatUs: 0, join2: true, leaveAtUs,
});
type ClientsDecl = ReturnType<typeof clientsDecl>;
const life = (host: number, decl: ClientsDecl, state: string, writes: number[] = [], bytesWritten = 0) => ({
  host, decl, startUs: 0, client: { state, chunkWrites: () => writes, counters: { bytesWritten } },
});
const serverLife = (decl: ReturnType<typeof serverDecl>, stats = { requests: 0, prequests: 0, joins: 0, leaves: 0 }, blockSendsUs: number[] = []) => ({
  decl, server: { stats }, blockSendsUs,
});

function transfer(parts: {
  servers: ReturnType<typeof serverDecl>[];
  lives?: ReturnType<typeof serverLife>[];
  clients?: ReturnType<typeof life>[];
  starts?: { host: number; decl: ClientsDecl }[];
}): FrisbeeBuilt {
  const f = {
    decl: { servers: parts.servers, clients: [] },
    servers: parts.lives ?? [],
    clients: parts.clients ?? [],
    layouts: [],
    starts: (parts.starts ?? []).map((s) => ({ ...s, atUs: 0 })),
  };
  return f as unknown as FrisbeeBuilt;
}

describe("frisbee-clients-finish against hand-built lives", () => {
  const plain = clientsDecl(0);
  const up = (h: number): boolean => h !== 8;

  it("judges each host by its last life, and names the state of each that did not finish", () => {
    const told = clientsDecl(0, 5_000_000);
    const f = transfer({
      servers: [serverDecl(MiB, MiB)],
      starts: [1, 2, 3, 4, 5, 6, 8].map((host) => ({ host, decl: plain })).concat([{ host: 7, decl: told }]),
      clients: [
        life(1, plain, "done"),
        life(2, plain, "receiving"),
        life(3, plain, "joining"),
        // Host 4 never started a client.
        life(5, plain, "done"),
        life(5, plain, "receiving"),
        life(6, plain, "receiving"),
        life(6, plain, "done"),
        life(7, told, "left"),
        life(8, plain, "receiving"),
      ],
    });
    expect(clientsFinish(f, up)).toBe("4 clients did not finish: host 2 (receiving), host 3 (joining), host 4 (never started), host 5 (receiving)");
    expect(clientsFinish(f, () => true)).toBe(
      "5 clients did not finish: host 2 (receiving), host 3 (joining), host 4 (never started), host 5 (receiving), host 8 (receiving)",
    );
  });

  it("names the first five of many, and holds when every owed client is done", () => {
    const hosts = [1, 2, 3, 4, 5, 6, 7];
    const starts = hosts.map((host) => ({ host, decl: plain }));
    const many = transfer({ servers: [serverDecl(MiB, MiB)], starts, clients: hosts.map((h) => life(h, plain, "receiving")) });
    expect(clientsFinish(many, up)).toBe("7 clients did not finish: host 1 (receiving), host 2 (receiving), host 3 (receiving), host 4 (receiving), host 5 (receiving)");
    const done = transfer({ servers: [serverDecl(MiB, MiB)], starts, clients: hosts.map((h) => life(h, plain, "done")) });
    expect(clientsFinish(done, up)).toBeNull();
  });
});

describe("frisbee-image-exact against hand-built chunk writes", () => {
  // Server 0: 3 chunks, 3 MiB raw; server 1: 2 chunks, 5 MiB raw.
  const servers = [serverDecl(3 * MiB, 3 * MiB), serverDecl(2 * MiB, 5 * MiB)];
  const ofServer = (s: number) => clientsDecl(s);

  it("checks every finished client against its own server's image size", () => {
    const good = [life(1, ofServer(0), "done", [1, 1, 1], 3 * MiB), life(2, ofServer(1), "done", [1, 1], 5 * MiB)];
    expect(imageExact(transfer({ servers, clients: good }))).toBeNull();
    const short = [...good, life(3, ofServer(1), "done", [1, 1], 3 * MiB)];
    expect(imageExact(transfer({ servers, clients: short }))).toBe(`client on host 3 wrote ${3 * MiB} bytes, the image is ${5 * MiB}`);
  });

  it("names the first chunk not written exactly once, chunk 0 included", () => {
    const twice = [life(1, ofServer(0), "done", [1, 1, 1], 3 * MiB), life(2, ofServer(0), "done", [2, 1, 0], 3 * MiB)];
    expect(imageExact(transfer({ servers, clients: twice }))).toBe("client on host 2 wrote chunk 0 2 times");
  });
});

describe("frisbee-server-rate and maxInWindow against hand-set send times", () => {
  it("skips a dynamic server but goes on to judge the next", () => {
    const flood = Array.from({ length: 100 }, () => 0);
    const lives = [serverLife(serverDecl(MiB, MiB, true), undefined, flood), serverLife(serverDecl(MiB, MiB), undefined, flood.slice(0, 9))];
    expect(serverRate(transfer({ servers: [], lives }))).toBe("server sent 9 blocks in 1000us from 0us, pacing of 4 per 1000us allows 8");
    expect(serverRate(transfer({ servers: [], lives: [lives[0]!, serverLife(serverDecl(MiB, MiB), undefined, flood.slice(0, 8))] }))).toBeNull();
  });

  it("counts a half-open window, reports the earliest of equal windows, and nothing for no sends", () => {
    expect(maxInWindow([0, 1, 10, 11], 5)).toEqual({ count: 2, atUs: 0 });
    expect(maxInWindow([0, 4, 5, 9], 5)).toEqual({ count: 2, atUs: 0 });
    expect(maxInWindow([0, 4, 5, 6, 9], 5)).toEqual({ count: 3, atUs: 4 });
    expect(maxInWindow([], 5)).toEqual({ count: 0, atUs: 0 });
  });
});

describe("frisbee-control-bounded against hand-set server counters", () => {
  // Server 0: 2 clients, 2 chunks (1.5 MiB): bound 4 x 2 x 2 + 20 x 2 = 56.
  // Server 1: 3 clients, 3 chunks: bound 4 x 3 x 3 + 20 x 3 = 96.
  const servers = [serverDecl(1.5 * MiB, 3 * MiB), serverDecl(3 * MiB, 3 * MiB)];
  const starts = [0, 0, 1, 1, 1].map((server, i) => ({ host: i + 1, decl: clientsDecl(server) }));
  const counters = (total: number) => ({ requests: total - 6, prequests: 3, joins: 2, leaves: 1 });
  const bounded = (first: number, second: number) =>
    controlBounded(transfer({ servers, starts, lives: [serverLife(servers[0]!, counters(first)), serverLife(servers[1]!, counters(second))] }));

  it("bounds each server by its own clients and chunks", () => {
    expect(bounded(56, 96)).toBeNull();
    expect(bounded(57, 96)).toBe("server received 57 control messages from 2 clients for 2 chunks (bound 56)");
    expect(bounded(56, 97)).toBe("server received 97 control messages from 3 clients for 3 chunks (bound 96)");
  });
});
