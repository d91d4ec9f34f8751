import { rmSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { startTestRedis, type TestRedis } from "../../support/redis.js";
import { killChildren } from "../frisbee/support.js";

/** The Redis of a queue test file, ready once its `beforeAll` has run. */
export interface QueueTestRedis {
  /** The URL, with the file's own database number. */
  readonly url: string;
  /** A client of it, for planting and reading keys beside the testbed processes. */
  readonly client: Redis;
}

/**
 * The set-up shared by the queue tests that run `testbed` processes against Redis. Call it inside
 * the describe: before its tests, a Redis on database `db` (see startTestRedis) and a client;
 * after them, the testbed children killed (a worker left running would hold the queue), the
 * client closed, Redis stopped or its database flushed, and the scratch directory `dir` removed.
 */
export function useQueueRedis(db: number, dir: string): QueueTestRedis {
  let redis: TestRedis | undefined;
  let client: Redis | undefined;
  beforeAll(async () => {
    redis = await startTestRedis(db);
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    killChildren();
    client?.disconnect();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("useQueueRedis: Redis is not started yet (use it inside a test, after beforeAll)");
    return value;
  };
  return {
    get url() {
      return ready(redis).url;
    },
    get client() {
      return ready(client);
    },
  };
}
