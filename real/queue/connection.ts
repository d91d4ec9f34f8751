import type { Redis } from "ioredis";
import { backoff, backoffDelayUs } from "../../core/monitor/backoff.js";
import { QueueError } from "./errors.js";

export { QueueError };

/** How long a first connection may take before the command gives up with an error. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Reconnection delays after a connection drops: exponential from 100 ms, capped at 5 s. */
const RECONNECT = backoff("exponential", { baseUs: 0, stepUs: 100_000, factor: 2, capUs: 5_000_000 });
/** URL length limit; a longer one is a mistake, not a server. */
const URL_CHARS_MAX = 2_048;

export interface QueueUrl {
  /** The URL as given, for connecting. */
  readonly url: string;
  /** The URL with any password replaced by `***`, for messages and logs. */
  readonly shown: string;
}

/** `redis://[user:password@]host[:port][/db]` or `rediss://...`; anything else is refused in one line. */
export function parseQueueUrl(text: string): QueueUrl {
  const bad = (why: string): never => {
    throw new QueueError(`--queue: ${why}, got "${text.length > 80 ? `${text.slice(0, 80)}...` : text}"`, true);
  };
  if (text.length > URL_CHARS_MAX) bad(`a URL of at most ${URL_CHARS_MAX} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad("expected a URL like redis://host:6379");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") bad("expected a redis:// or rediss:// URL");
  if (url.hostname === "") bad("the URL names no host");
  if (url.port !== "" && (Number(url.port) < 1 || Number(url.port) > 65_535)) bad("the port must be 1 to 65535");
  if (url.pathname !== "" && url.pathname !== "/" && !/^\/\d{1,2}$/.test(url.pathname)) bad("the path may only be a database number, like /0");
  if (url.search !== "" || url.hash !== "") bad("the URL may not carry a query or a fragment");
  const shown = new URL(url.href);
  if (shown.password !== "") shown.password = "***";
  return { url: text, shown: shown.href.replace(/\/$/, "") };
}

export interface ConnectOptions {
  /** Workers: commands wait through reconnections (BullMQ needs this); others fail after one retry. */
  readonly blocking: boolean;
  readonly connectTimeoutMs?: number;
}

/**
 * Connects, failing fast with a QueueError when the server is unreachable at the start; once
 * connected, a dropped connection is retried with backoff, so a Redis restart does not end a worker.
 */
export async function connectRedis(target: QueueUrl, options: ConnectOptions): Promise<Redis> {
  // Loaded when first used: every testbed command imports this module, few talk to Redis, and
  // loading the client takes a noticeable part of a second at start-up.
  const { Redis: RedisClient } = await import("ioredis");
  const redis = new RedisClient(target.url, {
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: options.blocking ? null : 1,
    // No retries while the first connection is made: an unreachable server is reported, not awaited.
    retryStrategy: () => null,
  });
  // ioredis reports every failed attempt as an event; without a listener Node would print a stack.
  const seen: Error[] = [];
  redis.on("error", (error: Error) => seen.push(error));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new QueueError(`${target.shown}: cannot connect (${reasonOf(seen[0] ?? error)})`);
  }
  redis.options.retryStrategy = (times: number) => Math.round(backoffDelayUs(RECONNECT, times) / 1000);
  return redis;
}

/** The eviction policy, when the server tells it; BullMQ loses jobs under any policy but noeviction. */
export async function evictionWarning(redis: Redis, target: QueueUrl): Promise<string | null> {
  try {
    const reply = (await redis.config("GET", "maxmemory-policy")) as string[];
    const policy = reply[1];
    if (policy === undefined || policy === "noeviction") return null;
    return `${target.shown}: maxmemory-policy is ${policy}; queued jobs can be evicted (set it to noeviction)`;
  } catch {
    return null; // Managed servers may refuse CONFIG; nothing to say then.
  }
}

export function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error.message.replace(/\s*[\r\n]+\s*/g, "; ");
    return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}
