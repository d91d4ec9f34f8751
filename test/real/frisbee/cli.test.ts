import { createSocket } from "node:dgram";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { endpoint, IMAGE, killChildren, LO, RAW, sameBytes, tempDir, testbed, until, type Running } from "./support.js";
import { multicastSkipReason, titled } from "../../support/probes.js";

const noMulticast = await multicastSkipReason();

const temp = tempDir("testbed-frisbee-cli-");
afterAll(temp.cleanup);
afterEach(killChildren);

function server(port: number, group: string, extra: string[] = [], image = IMAGE): Running {
  return testbed(["frisbeed", "--image", image, "-m", group, "-p", String(port), "-i", LO, "--idle-exit", "120", ...extra], temp.dir);
}

function client(port: number, group: string, target: string, extra: string[] = []): Running {
  return testbed(["frisbee", "-m", group, "-p", String(port), "-i", LO, ...extra, target], temp.dir);
}

async function serving(s: Running): Promise<void> {
  await until(() => s.stderr().includes("frisbee.serving"), "frisbeed to start", s);
}

async function stopped(s: Running): Promise<number | null> {
  s.child.kill("SIGTERM");
  return s.exited;
}

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[lines.length - 1] as string;
}

describe.skipIf(noMulticast !== null)(titled("testbed frisbeed and frisbee on loopback multicast", noMulticast), () => {
  it("load the image onto two files identical to the source disk, and the server stores each progress report", async () => {
    const { port, group } = endpoint();
    const db = join(temp.dir, "events.db");
    const s = server(port, group, ["--bandwidth", "100Mbit", "--db", db]);
    await serving(s);
    const targets = [join(temp.dir, "two-a.img"), join(temp.dir, "two-b.img")];
    const clients = targets.map((t) => client(port, group, t, ["-H", "1"]));
    const codes = await Promise.all(clients.map((c) => c.exited));
    expect(codes).toEqual([0, 0]);
    for (const c of clients) expect(c.stdout()).toMatch(/^frisbee: wrote 2 chunks, 4\.0 MiB/);
    for (const t of targets) expect(sameBytes(readFileSync(t), RAW)).toBe(true);
    expect(await stopped(s)).toBe(0);
    expect(s.stdout()).toMatch(/frisbeed: sent \d+ blocks/);
    const rows = new Database(db, { readonly: true }).prepare("SELECT kind, data FROM events WHERE kind = 'frisbee.progress'").all() as { data: string }[];
    const reports = rows.map((r) => JSON.parse(r.data) as { client: number; SEQUENCE: number; BYTES_WRITTEN: number });
    const clientsReporting = new Set(reports.map((r) => r.client));
    expect(clientsReporting.size).toBe(2);
    for (const id of clientsReporting) {
      const mine = reports.filter((r) => r.client === id);
      expect(mine.map((r) => r.SEQUENCE)).toEqual(mine.map((_, k) => k + 1));
      expect(mine[mine.length - 1]?.BYTES_WRITTEN).toBe(RAW.byteLength);
    }
  });

  it("asks each client once for a full report when told --report-once --report-level full", async () => {
    const { port, group } = endpoint();
    const s = server(port, group, ["--bandwidth", "8Mbit", "-H", "2", "--report-once", "--report-level", "full"]);
    await serving(s);
    const clients = [join(temp.dir, "once-a.img"), join(temp.dir, "once-b.img")].map((t) => client(port, group, t));
    expect(await Promise.all(clients.map((c) => c.exited))).toEqual([0, 0]);
    await stopped(s);
    const reports = s.stderr().split("\n").filter((l) => l.includes("frisbee.progress"));
    expect(reports, s.stderr()).toHaveLength(2);
    for (const line of reports) expect(line).toMatch(/ level=2(\s|$)/);
    expect(new Set(reports.map((l) => /client=(\d+)/.exec(l)?.[1])).size).toBe(2);
  });

  it("says it is waiting, for which group and port, and gives up after --timeout with exit 4, leaving no target", async () => {
    const { port, group } = endpoint();
    const target = join(temp.dir, "nobody-there.img");
    const c = client(port, group, target, ["--timeout", "2"]);
    expect(await c.exited).toBe(4);
    const lines = c.stderr().trimEnd().split("\n");
    expect(lines[0]).toBe(`frisbee: waiting for a frisbeed on group ${group} port ${port} (asking every second; giving up after 2 s)`);
    expect(oneLine(c.stderr())).toBe(`testbed: frisbee: no frisbeed answered on group ${group} port ${port} within 2 s (--timeout)`);
    expect(existsSync(target)).toBe(false);
    // An existing file is left as it was.
    writeFileSync(target, "keep me");
    const again = client(port, group, target, ["--timeout", "1"]);
    expect(await again.exited).toBe(4);
    expect(readFileSync(target, "utf8")).toBe("keep me");
  });

  it("gives up with exit 4 when the server goes silent mid-load for --timeout", async () => {
    const { port, group } = endpoint();
    const s = server(port, group, ["--bandwidth", "4Mbit"]);
    await serving(s);
    const target = join(temp.dir, "silent.img");
    // The server logs the join before its reply reaches the client: on a loaded machine a kill at
    // that point leaves a client that never heard a server. A progress report (every second) comes
    // only from a client that is loading.
    const c = client(port, group, target, ["--timeout", "2", "-H", "1"]);
    await until(() => s.stderr().includes("frisbee.progress"), "the client to report progress", s);
    s.child.kill("SIGKILL");
    await s.exited;
    expect(await c.exited).toBe(4);
    expect(oneLine(c.stderr())).toMatch(new RegExp(`^testbed: frisbee: the frisbeed on group ${group.replace(/\./g, "\\.")} port ${port} went silent for 2 s \\(--timeout\\), with \\d of 2 chunks written$`));
    expect(existsSync(target)).toBe(false);
  });

  it("refuses a target too small for the image before writing anything", async () => {
    const { port, group } = endpoint();
    const s = server(port, group, ["--bandwidth", "100Mbit"]);
    await serving(s);
    const target = join(temp.dir, "small.img");
    const before = new Uint8Array(1 << 20).fill(0xab);
    writeFileSync(target, before);
    const c = client(port, group, target, ["--fixed-size"]);
    expect(await c.exited).toBe(1);
    expect(oneLine(c.stderr())).toMatch(/small\.img holds 1048576 bytes but the image needs 4194304; nothing was written/);
    expect(sameBytes(readFileSync(target), before)).toBe(true);
    await stopped(s);
  });

  it("says in one line that the port is in use", async () => {
    const { port, group } = endpoint();
    const squatter = createSocket("udp4");
    await new Promise<void>((resolve) => squatter.bind(port, resolve));
    try {
      const s = server(port, group);
      expect(await s.exited).toBe(1);
      expect(oneLine(s.stderr())).toBe(`testbed: UDP port ${port} is already in use (127.0.0.1, group ${group})`);
      const c = client(port, group, join(temp.dir, "never.img"));
      expect(await c.exited).toBe(1);
      expect(oneLine(c.stderr())).toMatch(`UDP port ${port} is already in use`);
    } finally {
      squatter.close();
    }
  });

  it("refuses bad flags, a missing or raw image, a bad address and an unusable target in one line, exit 2", async () => {
    const { port, group } = endpoint();
    const p = String(port);
    const rawDisk = join(temp.dir, "disk.raw");
    writeFileSync(rawDisk, RAW);
    const cases: [string[], number, RegExp][] = [
      [["frisbeed", "--image", IMAGE, "-m", group, "-p", p, "--bandwidth", "fast"], 2, /^testbed: --bandwidth: expected a rate/],
      [["frisbeed", "--image", IMAGE, "-m", group, "-p", p, "--bandwidth", "1Gbit", "--burst", "4"], 2, /alternatives/],
      [["frisbeed", "--image", IMAGE, "-m", group, "-p", p, "--report-level", "some"], 2, /^testbed: --report-level: expected none, summary or full, got "some"$/],
      [["frisbeed", "--image", join(temp.dir, "missing.ndz"), "-m", group, "-p", p], 2, /^testbed: .*missing\.ndz: no such image file$/],
      [["frisbeed", "--image", rawDisk, "-m", group, "-p", p], 2, /^testbed: .*disk\.raw: chunk 0 at image byte 0: bad magic/],
      [["frisbee", "-m", "10.1.2.3", "-p", p, join(temp.dir, "t.img")], 2, /^testbed: -m: expected an IPv4 multicast group/],
      [["frisbee", "-m", group, "-p", p, "-i", "localhost", join(temp.dir, "t.img")], 2, /^testbed: -i: expected the IPv4 address of an interface/],
      [["frisbee", "-m", group, "-p", "70000", join(temp.dir, "t.img")], 2, /^testbed: --port: expected a whole number/],
      [["frisbee", "-m", group, "-p", p, "-i", LO, temp.dir], 2, /^testbed: .*: the target is a directory; give a file name$/],
      [["frisbee", "-m", group, "-p", p, "--timeout", "0", join(temp.dir, "t.img")], 2, /^testbed: --timeout: expected a whole number from 1/],
    ];
    for (const [args, code, pattern] of cases) {
      const r = testbed(args, temp.dir);
      expect(await r.exited, args.join(" ")).toBe(code);
      expect(oneLine(r.stderr())).toMatch(pattern);
    }
  });

  it("refuses a second server on the same port in one line", async () => {
    const { port, group } = endpoint();
    const first = server(port, group);
    await serving(first);
    const second = server(port, group);
    expect(await second.exited).toBe(1);
    expect(oneLine(second.stderr())).toMatch(`UDP port ${port} is already in use`);
    await stopped(first);
  });

  it("reports a corrupt chunk on the server, names it, exits non-zero and does not write it", async () => {
    const { port, group } = endpoint();
    const image = readFileSync(IMAGE);
    const at = (1 << 20) + 4096 + 1000; // inside chunk 1's zlib stream
    image[at] = (image[at] as number) ^ 0xff;
    const bad = join(temp.dir, "corrupt.ndz");
    writeFileSync(bad, image);
    const s = server(port, group, ["--bandwidth", "100Mbit"], bad);
    await serving(s);
    // A file written in place (a disk), so what reached it can be read after the failure.
    const target = join(temp.dir, "from-corrupt.img");
    writeFileSync(target, new Uint8Array(8 << 20));
    const c = client(port, group, target, ["--fixed-size"]);
    // Chunk 1 is asked for first; whether chunk 0 reached the disk before it failed is a race.
    // Either way the code and the line agree: 3 and "incomplete" once anything was written, else 1.
    const code = await c.exited;
    const incomplete = / is incomplete \(written in place up to the failure\)$/.test(oneLine(c.stderr()));
    expect(code).toBe(incomplete ? 3 : 1);
    expect(oneLine(c.stderr())).toMatch(/^testbed: frisbee: chunk 1 is bad: chunk 1 at image byte \d+: /);
    // Chunk 1 covers sectors 5101 to 8191: none of its bytes reached the target.
    const written = readFileSync(target);
    const chunk1 = written.subarray(5101 * 512, Math.min(written.byteLength, 8192 * 512));
    expect(chunk1.every((b) => b === 0)).toBe(true);
    // A file that grows is put in place only whole: a failed load leaves none.
    const fresh = join(temp.dir, "fresh-from-corrupt.img");
    const d = client(port, group, fresh);
    expect(await d.exited).toBe(1);
    expect(existsSync(fresh)).toBe(false);
    await stopped(s);
  });

  it("refuses, on a fixed-size target, an image whose last chunk's header is bad before writing anything, since its size is unknown", async () => {
    const { port, group } = endpoint();
    const image = readFileSync(IMAGE);
    image[1 << 20] = (image[1 << 20] as number) ^ 0xff; // the last chunk's magic
    const bad = join(temp.dir, "bad-last-header.ndz");
    writeFileSync(bad, image);
    // Our frisbeed refuses such an image; --no-check stands in for a server that would not.
    const s = server(port, group, ["--bandwidth", "100Mbit", "--no-check"], bad);
    await serving(s);
    const target = join(temp.dir, "from-bad-header.img");
    const before = new Uint8Array(8 << 20).fill(0xcd);
    writeFileSync(target, before);
    // A fixed-size target (as a disk): the client must know the image fits before it writes.
    const c = client(port, group, target, ["--fixed-size"]);
    expect(await c.exited).toBe(1);
    expect(oneLine(c.stderr())).toMatch(/^testbed: frisbee: the image's last chunk has a bad header, so its size is unknown \(chunk 1 at image byte \d+: .*\); nothing was written$/);
    expect(sameBytes(readFileSync(target), before)).toBe(true);
    await stopped(s);
  });

  it("on Ctrl-C leaves no file target at all, and says a fixed-size target is incomplete (exit 3)", async () => {
    const { port, group } = endpoint();
    const s = server(port, group, ["--bandwidth", "2Mbit"]);
    await serving(s);
    const file = join(temp.dir, "interrupted.img");
    const disk = join(temp.dir, "interrupted-fixed.img");
    writeFileSync(disk, new Uint8Array(8 << 20));
    const c = client(port, group, file, ["-H", "1"]);
    const f = client(port, group, disk, ["-H", "1", "--fixed-size"]);
    // The server logs each client's progress reports: wait until one client has written a chunk.
    await until(() => /BYTES_WRITTEN=[1-9]/.test(s.stderr()), "a client to write a chunk", s);
    c.child.kill("SIGINT");
    f.child.kill("SIGINT");
    expect(await c.exited).toBe(130);
    expect(oneLine(c.stderr())).toMatch(/^testbed: interrupted by SIGINT; nothing written to .*interrupted\.img$/);
    expect(existsSync(file)).toBe(false);
    const code = await f.exited;
    // The fixed-size client may not be the one that had written yet; its code and line agree either way.
    if (code === 3) expect(oneLine(f.stderr())).toMatch(/^testbed: interrupted by SIGINT; .*interrupted-fixed\.img is incomplete \(written in place\)$/);
    else expect({ code, line: oneLine(f.stderr()) }).toEqual({ code: 130, line: "testbed: interrupted by SIGINT; nothing was left" });
    await stopped(s);
  });

  it("lets clients finish when the server is killed and restarted mid-transfer", async () => {
    const { port, group } = endpoint();
    // 2 Mbit/s takes about 8 s for the image's 2 chunks; each client reports every second.
    const first = server(port, group, ["--bandwidth", "2Mbit", "-H", "1"]);
    await serving(first);
    const targets = [join(temp.dir, "restart-a.img"), join(temp.dir, "restart-b.img")];
    const clients = targets.map((t) => client(port, group, t));
    // Mid-transfer, by the clients' own word (no sleep): both have joined and one reports 1 of the
    // 2 chunks; its second chunk is at least 4 s of pacing away. (The other, started later on a
    // loaded machine, may be anywhere, even done.)
    const joined = (): boolean => first.stderr().split("frisbee.join").length > 2;
    const midway = (): boolean => /frisbee\.progress .*CHUNKS_RECV=1 /.test(first.stderr());
    await until(() => joined() && midway(), "both clients to join and one to report 1 chunk of 2", first);
    first.child.kill("SIGKILL");
    await first.exited;
    // Were every client already done, this test would not be testing a restart.
    expect(clients.some((c) => c.child.exitCode === null)).toBe(true);
    const second = server(port, group, ["--bandwidth", "100Mbit"]);
    const codes = await Promise.all(clients.map((c) => c.exited));
    expect(codes, clients.map((c) => c.stderr()).join("\n")).toEqual([0, 0]);
    for (const t of targets) expect(sameBytes(readFileSync(t), RAW)).toBe(true);
    await stopped(second);
  });

  it("keeps the other clients going when one is killed", async () => {
    const { port, group } = endpoint();
    const s = server(port, group, ["--bandwidth", "16Mbit"]);
    await serving(s);
    const victim = client(port, group, join(temp.dir, "victim.img"));
    const survivors = [join(temp.dir, "survivor-a.img"), join(temp.dir, "survivor-b.img")];
    const others = survivors.map((t) => client(port, group, t));
    await until(() => s.stderr().split("frisbee.join").length > 3, "three clients to join", s);
    victim.child.kill("SIGKILL");
    expect(await Promise.all(others.map((c) => c.exited))).toEqual([0, 0]);
    for (const t of survivors) expect(sameBytes(readFileSync(t), RAW)).toBe(true);
    await victim.exited;
    await stopped(s);
  });
});
