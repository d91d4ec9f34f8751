import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { EMULAB_FIXTURES, emulabFixture } from "../../fixtures/emulab.js";

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
export const CLI = join(ROOT, "dist/bin/testbed.js");
export const FIXTURES = EMULAB_FIXTURES;
export const IMAGE = emulabFixture("disk-4mib.ndz");
export const RAW: Uint8Array = gunzipSync(readFileSync(emulabFixture("disk-4mib.raw.gz")));
export const LO = "127.0.0.1";

/**
 * A port and group of our own for each test, so that test files running at once on one host do not
 * hear each other: the port from the process id and a counter, the group from the port. The ports lie
 * below Linux's ephemeral range (32768 and up), where the kernel hands out ports to every other
 * socket on a busy host: frisbeed takes its port exclusively, and one of those (a Redis client, a
 * browser) sitting on it failed a test with "already in use".
 */
const PORT_FIRST = 20_000;
const PORT_SPAN = 12_000;
let next = 0;
export function endpoint(): { port: number; group: string } {
  const port = PORT_FIRST + ((process.pid * 37 + next++ * 7) % PORT_SPAN);
  return { port, group: `239.194.${(port >> 8) & 255}.${port & 255}` };
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();

/** Kills every child a test started that is still running (after a failed test). */
export function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
}

/** Runs `testbed ...args` as a child process, collecting its output. */
export function testbed(args: string[], cwd: string, timeoutMs = 60_000): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (err += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits until `predicate` holds, polling; fails after `timeoutMs`, or as soon as `watched` exits. */
export async function until(predicate: () => boolean, what: string, watched?: Running, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}${watched === undefined ? "" : `; its stderr: ${watched.stderr()}`}`);
    if (watched !== undefined && watched.child.exitCode !== null) throw new Error(`gave up waiting for ${what}: exited ${watched.child.exitCode}: ${watched.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}
