import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CLI, startSyncd, type SyncdProcess } from "./syncd-process.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const dir = mkdtempSync(join(tmpdir(), "testbed-sync-cli-"));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 60_000 });
}

function testbedAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function oneLine(r: { code: number | null; stderr: string }, code: number, pattern: RegExp) {
  expect(r.code).toBe(code);
  expect(r.stderr.trimEnd().split("\n")[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

let syncd: SyncdProcess | null = null;
let port = 0;

beforeAll(async () => {
  // Fails at once, with everything syncd wrote, if it exits instead of starting.
  syncd = await startSyncd([], { cwd: dir });
  port = syncd.tcpPort;
});

afterAll(async () => {
  // Resolves at once if syncd has already exited.
  await syncd?.stop("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

describe("testbed syncd and testbed sync", () => {
  it("release an initializer and a waiter with the highest error as the exit code", async () => {
    const [a, b] = await Promise.all([
      testbedAsync("sync", "-s", `127.0.0.1:${port}`, "-n", "p1", "-i", "1", "--timeout", "30"),
      testbedAsync("sync", "-s", "127.0.0.1", "-p", String(port), "-n", "p1", "-e", "9", "--timeout", "30"),
    ]);
    expect([a.code, b.code]).toEqual([9, 9]);
  });

  it("work over UDP (-u), the udp port being the tcp one", async () => {
    const [a, b] = await Promise.all([
      testbedAsync("sync", "-u", "-s", `127.0.0.1:${port}`, "-n", "p2", "-i", "1", "-a"),
      testbedAsync("sync", "-u", "-s", `127.0.0.1:${port}`, "-n", "p2", "--json", "--timeout", "30"),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(JSON.parse(b.stdout)).toMatchObject({ exit: 0, meaning: "released", generation: 1 });
  });

  it("exit 241 for everyone at the initializer's deadline, and 242 for a late arrival", async () => {
    // The waiter is in before the initializer starts its 1 s: a loaded machine may take longer than
    // that to start a process, which would make the waiter a late arrival (242).
    const waiter = testbedAsync("sync", "-s", `127.0.0.1:${port}`, "-n", "p3");
    await syncd!.waitFor(/sync\.wait name=p3 /);
    const initializer = testbedAsync("sync", "-s", `127.0.0.1:${port}`, "-n", "p3", "-i", "2", "--timeout", "1", "--extra", "late");
    const [a, b] = await Promise.all([initializer, waiter]);
    expect([a.code, b.code]).toEqual([241, 241]);
    expect((await testbedAsync("sync", "-s", `127.0.0.1:${port}`, "-n", "p3")).code).toBe(242);
  });

  it("exit 240 for waiters when the server gets SIGHUP", async () => {
    const waiting = testbedAsync("sync", "-s", `127.0.0.1:${port}`, "-n", "p4", "--timeout", "30");
    await syncd!.waitFor(/sync\.wait name=p4 /);
    syncd!.child.kill("SIGHUP");
    expect((await waiting).code).toBe(240);
  });

  it("read the server from the syncserver file when -s is not given", async () => {
    const file = join(dir, "syncserver");
    expect((await testbed("experiment", "create", "e1", "--nodes", "n0=127.0.0.1,n1=10.9.9.9", "--db", "t.db")).code).toBe(0);
    const line = await testbed("syncserver", "e1", "n1", "--file", file, "--port", String(port), "--db", "t.db");
    expect(line.stdout.trim()).toBe("SYNCSERVER SERVER=127.0.0.1 ISSERVER=0");
    expect(readFileSync(file, "utf8")).toBe(`127.0.0.1:${port}\n`);
    expect((await testbed("syncserver", "e1", "n0", "--db", "t.db")).stdout.trim()).toBe("SYNCSERVER SERVER=127.0.0.1 ISSERVER=1");
    const r = await testbedAsync("sync", "--syncserver-file", file, "-n", "p5", "-i", "0");
    expect(r.code).toBe(0);
  });
});

/** A port nobody listens on (just released by the kernel). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs `testbed ...args` until its stderr matches, then stops it; what it wrote by then. */
function stderrUntil(pattern: RegExp, ...args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (pattern.test(stderr)) child.kill("SIGTERM");
    });
    child.on("close", () => resolve(stderr));
  });
}

describe("testbed sync with no server there says so", () => {
  it("over TCP: once, where and how often it retries, without waiting for a timeout", async () => {
    const port = await freePort();
    const stderr = await stderrUntil(/\n/, "sync", "-s", `127.0.0.1:${port}`, "-n", "x");
    expect(stderr).toBe(`testbed: sync: no sync server at 127.0.0.1:${port} (connection refused); trying again every 5 s until it answers (--timeout S gives up)\n`);
  });

  it("over TCP with --timeout: exits 241 with the reason", async () => {
    const port = await freePort();
    const r = await testbedAsync("sync", "-s", `127.0.0.1:${port}`, "-n", "x", "--timeout", "1");
    expect(r.code).toBe(241);
    expect(r.stderr.split("\n")).toEqual([
      `testbed: sync: no sync server at 127.0.0.1:${port} (connection refused); trying again every 5 s, giving up after 1 s`,
      `testbed: sync: gave up after 1 s: no sync server at 127.0.0.1:${port} (connection refused once)`,
      "",
    ]);
  });

  it("over UDP: once, that nothing answers and how often it sends again; the reason at --timeout", async () => {
    const port = await freePort();
    const r = await testbedAsync("sync", "-u", "-s", `127.0.0.1:${port}`, "-n", "x", "--timeout", "2");
    expect(r.code).toBe(241);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`testbed: sync: no answer yet from a sync server at 127.0.0.1:${port} (UDP); sending again with backoff, at least every 4 s, giving up after 2 s`);
    expect(lines[1]).toMatch(new RegExp(`^testbed: sync: gave up after 2 s: no answer from a sync server at 127\\.0\\.0\\.1:${port} \\(\\d+ datagrams sent\\)$`));
    expect(lines).toHaveLength(2);
  });

  it("takes host:port in -s, and refuses it in one line when -p names another port", async () => {
    oneLine(await testbed("sync", "-s", "127.0.0.1:5", "-p", "6", "-n", "x"), 64, /^testbed: sync: -s 127\.0\.0\.1:5 names port 5 and -p names 6: give the port once$/);
  });
});

describe("testbed sync usage errors exit 64 with one line, like the original", () => {
  it("refuses bad flags", async () => {
    oneLine(await testbed("sync", "-s", "127.0.0.1", "-e", "240"), 64, /-e: expected a whole number from 0 to 239/);
    oneLine(await testbed("sync", "-s", "127.0.0.1", "-n", "x".repeat(64)), 64, /-n: the name is 64 bytes, at most 63/);
    oneLine(await testbed("sync", "-s", "127.0.0.1", "-i", "-3"), 64, /-i/);
    oneLine(await testbed("sync", "-s", "bad host"), 64, /-s: expected host\[:port\]/);
    oneLine(await testbed("sync", "--syncserver-file", join(dir, "missing")), 64, /no such file/);
    oneLine(await testbed("sync", "--bogus"), 64, /unknown option/);
    oneLine(await testbed("sync", "-s", "h", "--policy", "tolerant"), 64, /initializer/);
  });

  it("documents its exit codes and an example in --help", async () => {
    const r = await testbed("sync", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/241 timeout, 242 late/);
    expect(r.stdout).toMatch(/Example:\n\s+testbed sync/);
  });
});

describe("the testbed side and the benchmark", () => {
  it("refuses unknown experiments and nodes with exit 2", async () => {
    // Only reading: a missing store is refused, not created.
    oneLine(await testbed("syncserver", "nope", "n0", "--db", "t2.db"), 1, /t2\.db: no such store file/);
    expect(existsSync(join(dir, "t2.db"))).toBe(false);
    expect((await testbed("experiment", "create", "e2", "--nodes", "a,b", "--db", "t2.db")).code).toBe(0);
    oneLine(await testbed("syncserver", "nope", "n0", "--db", "t2.db"), 2, /no experiment named nope/);
    oneLine(await testbed("experiment", "set-sync-server", "e2", "c", "--db", "t2.db"), 2, /c is not a node of experiment e2/);
    oneLine(await testbed("syncserver", "e2", "c", "--db", "t2.db"), 2, /c is not a node/);
    expect(existsSync(join(dir, "t2.db"))).toBe(true);
  });

  it("bench sync prints releaseMs and the arrival rate as JSON", async () => {
    for (const transport of ["tcp", "udp"]) {
      const r = await testbed("bench", "sync", "--waiters", "50", "--transport", transport, "--json");
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as { releaseMs: number; arrivalsPerSec: number; released: number; failed: number; outcomes: Record<string, number> };
      expect(j).toMatchObject({ released: 50, failed: 0, outcomes: { "0": 50 } });
      expect(j.releaseMs).toBeGreaterThanOrEqual(0);
      expect(j.arrivalsPerSec).toBeGreaterThan(0);
    }
  });
});
