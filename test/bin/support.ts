import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { runTestbed } from "../support/run.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = join(ROOT, "dist/bin/testbed.js");

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled testbed in `cwd` and waits for it, without blocking the event loop (test/support/run.ts). */
export function testbedIn(cwd: string, ...args: string[]): Promise<Ran> {
  return runTestbed(args, { cwd, timeoutMs: 120_000 });
}

/** A testbed process left running: its output so far, a wait for a line, and its end. */
export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout or stderr has matched (rejects if the process ends first). */
  waitFor(pattern: RegExp): Promise<void>;
  exited: Promise<Ran>;
}

export function startTestbed(cwd: string, ...args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const watchers: { pattern: RegExp; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of watchers.splice(0)) {
      if (w.pattern.test(out) || w.pattern.test(err)) w.resolve();
      else watchers.push(w);
    }
  };
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
    check();
  });
  child.stderr?.on("data", (b: Buffer) => {
    err += b.toString();
    check();
  });
  const exited = new Promise<Ran>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout: out, stderr: err })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(out) || pattern.test(err)) return resolve();
        watchers.push({ pattern, resolve });
        void exited.then((r) => reject(new Error(`testbed exited ${r.code} before printing ${pattern}: ${r.stderr}`)));
      }),
    exited,
  };
}

/** One line on stderr, the exit code given, no stack trace. */
export function expectOneLineError(r: Ran, code: number, pattern: RegExp): void {
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code });
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
}

/** Name, size and hash of every file under `dir`: what must not change when a command fails. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[p.slice(dir.length + 1)] = `${st.size} ${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16)}`;
    }
  };
  walk(dir);
  return out;
}
