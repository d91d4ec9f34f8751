import { Redis } from "ioredis";
import { redisServerInstalled, startLocalRedis } from "../../real/queue/redis-server.js";

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
  if (process.env[REDIS_ENV] !== undefined || redisServerInstalled()) return null;
  return `no Redis: ${REDIS_ENV} is unset and redis-server is not installed (apt-get install redis-server)`;
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
  const local = await startLocalRedis();
  return { url: `${local.url}/${db}`, stop: () => local.stop() };
}

async function flush(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.flushdb();
  redis.disconnect();
}
