import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { Redis } from "ioredis";

/**
 * A Redis for one test file. CI starts one and passes its URL in TESTBED_REDIS_URL; each test file
 * then takes its own database number, so files running at once never share a queue. Without that
 * variable a private redis-server is started on a free port (never the default one) and stopped
 * after. Without either, the tests that need Redis skip and say why.
 */
export interface TestRedis {
  readonly url: string;
  stop(): Promise<void>;
}

export const REDIS_ENV = "TESTBED_REDIS_URL";

/** Why Redis tests cannot run here, or null when they can. */
export function redisSkipReason(): string | null {
  if (process.env[REDIS_ENV] !== undefined) return null;
  const found = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  return found.status === 0 ? null : `no Redis: ${REDIS_ENV} is unset and redis-server is not installed (apt-get install redis-server)`;
}

/** Database numbers 1-15 by test file; 0 is left to people. */
export async function startTestRedis(db: number): Promise<TestRedis> {
  if (!Number.isInteger(db) || db < 1 || db > 15) throw new Error(`db: expected 1 to 15, got ${db}`);
  const shared = process.env[REDIS_ENV];
  if (shared !== undefined) {
    const url = `${shared.replace(/\/\d*$/, "")}/${db}`;
    await flush(url);
    return { url, stop: async () => flush(url) };
  }
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (await ready(child)) {
      const url = `redis://127.0.0.1:${port}/${db}`;
      return { url, stop: () => stopChild(child) };
    }
    await stopChild(child);
    // Another process took the port between our probe and the server's bind: try another.
    if (attempt >= 4) throw new Error("could not start redis-server on a free port");
  }
}

async function flush(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.flushdb();
  redis.disconnect();
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
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("Ready to accept connections")) resolve(true);
    });
    child.once("exit", () => resolve(false));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
