import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, endpoint, IMAGE, RAW, sameBytes, tempDir, until } from "./support.js";

/**
 * Two hosts made of network namespaces joined by a veth pair: our frisbeed on one, our frisbee on
 * the other, and on each a plain socket that records the source port of every Frisbee datagram it
 * hears (the original programs drop any not from the Frisbee port). Needs root; without it the test
 * is skipped and says why in its name. The same check of the source port on one host, without
 * root: test/real/runtime/source-port.test.ts.
 */
const why = skipReason();
const tag = String(process.pid % 100_000);
const NS = [`tbfa${tag}`, `tbfb${tag}`] as const;
const VETH = [`tbva${tag}`, `tbvb${tag}`] as const;
const subnet = `10.${200 + (process.pid % 50)}.${(process.pid >> 6) % 250}`;
const ADDR = [`${subnet}.1`, `${subnet}.2`] as const;

function skipReason(): string | null {
  if (process.platform !== "linux") return "network namespaces are Linux's";
  if (process.getuid?.() !== 0) return "needs root for network namespaces";
  if (spawnSync("ip", ["netns", "list"]).status !== 0) return "the ip command (iproute2) cannot list network namespaces";
  return null;
}

function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** Runs a command in a namespace; resolves with its exit code and output. */
function inNs(ns: string, args: string[], timeoutMs: number): { done: Promise<{ code: number | null; out: string; err: string }>; kill: () => void; stderr: () => string } {
  const child = spawn("ip", ["netns", "exec", ns, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    }),
  );
  return { done, kill: () => child.kill("SIGTERM"), stderr: () => err };
}

/** A listener on the group and port that prints, on SIGTERM, the source address:port of everything it heard. */
const OBSERVER = `
const s = require("node:dgram").createSocket({ type: "udp4", reuseAddr: true });
const seen = {};
s.on("message", (_b, r) => { const k = r.address + ":" + r.port; seen[k] = (seen[k] || 0) + 1; });
s.bind(Number(process.argv[2]), process.argv[1], () => { s.addMembership(process.argv[1], process.argv[3]); console.error("listening"); });
process.on("SIGTERM", () => { console.log(JSON.stringify(seen)); process.exit(0); });
`;

describe.skipIf(why !== null)(`Frisbee across two hosts (network namespaces and a veth pair)${why === null ? "" : ` (skipped: ${why})`}`, () => {
  beforeAll(() => {
    for (const ns of NS) ip("netns", "add", ns);
    ip("link", "add", VETH[0], "type", "veth", "peer", "name", VETH[1]);
    for (let i = 0; i < 2; i++) {
      const ns = NS[i] as string;
      ip("link", "set", VETH[i] as string, "netns", ns);
      ip("-n", ns, "addr", "add", `${ADDR[i]}/24`, "dev", VETH[i] as string);
      ip("-n", ns, "link", "set", "lo", "up");
      ip("-n", ns, "link", "set", VETH[i] as string, "up");
      ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", VETH[i] as string);
    }
  });

  afterAll(() => {
    // Deleting a namespace deletes its end of the veth pair, and with it the other end.
    for (const ns of NS) spawnSync("ip", ["netns", "del", ns]);
  });

  it("loads the image from a frisbeed on the other host, every datagram each way from the Frisbee port", { timeout: 120_000 }, async () => {
    const { port, group } = endpoint();
    const t = tempDir("testbed-netns-");
    try {
      const observers = NS.map((ns, i) => inNs(ns, [process.execPath, "-e", OBSERVER, group, String(port), ADDR[i] as string], 90_000));
      await until(() => observers.every((o) => o.stderr().includes("listening")), "the observers");
      const server = inNs(NS[0], [process.execPath, CLI, "frisbeed", "--image", IMAGE, "-m", group, "-p", String(port), "-i", ADDR[0], "--bandwidth", "100Mbit", "--idle-exit", "0"], 90_000);
      const target = join(t.dir, "disk.raw");
      const client = inNs(NS[1], [process.execPath, CLI, "frisbee", "-m", group, "-p", String(port), "-i", ADDR[1], "--timeout", "30", "--json", target], 90_000);
      const c = await client.done;
      server.kill();
      const s = await server.done;
      for (const o of observers) o.kill();
      const seen = await Promise.all(observers.map(async (o) => JSON.parse((await o.done).out.trim() || "{}") as Record<string, number>));
      expect(c.code, c.err).toBe(0);
      expect(s.out).toMatch(/frisbeed: sent \d+ blocks/);
      expect(sameBytes(readFileSync(target), RAW)).toBe(true);
      // On the client's host: the server's blocks; on the server's: the client's join and requests.
      // Each host's own datagrams come back on its loopback too; all of them from the Frisbee port.
      expect(Object.keys(seen[1] ?? {})).toContain(`${ADDR[0]}:${port}`);
      expect(Object.keys(seen[0] ?? {})).toContain(`${ADDR[1]}:${port}`);
      for (const heard of seen) for (const source of Object.keys(heard)) expect(source.endsWith(`:${port}`), source).toBe(true);
    } finally {
      t.cleanup();
    }
  });
});
