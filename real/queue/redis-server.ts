import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/**
 * A private redis-server on a free loopback port (never the default one, which someone else may
 * use), for benchmarks and tests: persistence off, and the eviction policy BullMQ needs.
 */
export interface LocalRedis {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Attempts at a free port: another process may take the probed port before the server binds it. */
const START_ATTEMPTS_MAX = 5;
/** How long a starting server may take to say it is ready. */
const READY_TIMEOUT_MS = 10_000;

export function redisServerInstalled(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

export async function startLocalRedis(): Promise<LocalRedis> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    if (await ready(child)) return { url: `redis://127.0.0.1:${port}`, pid: child.pid ?? 0, stop: () => stop(child) };
    await stop(child);
    if (attempt >= START_ATTEMPTS_MAX) throw new Error(`could not start redis-server on a free port after ${attempt} attempts`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function ready(child: ChildProcess): Promise<boolean> {
  return new Promise((resolve) => {
    let out = "";
    const timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        resolve(true);
      }
    });
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
