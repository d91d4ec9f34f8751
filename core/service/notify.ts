import type { Micros } from "../engine/time.js";

/**
 * How a node learns of an update that needs no restart (a new state generation) within 3 s, as
 * CoDeeN's nodes did: the controller pushes a notice to every node at once, and since a pushed
 * notice can be lost, each node also polls every `pollEveryUs`. A node that is reachable therefore
 * learns within pollEveryUs plus a round trip and the fetch, pushed or not.
 */
export interface WatcherConfig {
  readonly pollEveryUs: Micros;
}

export const UPDATE_NOTICE_US_MAX = 3_000_000;
export const DEFAULT_WATCHER: WatcherConfig = { pollEveryUs: 2_000_000 };

export interface WatcherPort {
  /** Ask the controller which generation is current; its answer comes in as `notified`. */
  poll(now: Micros, held: number): void;
  /** Fetch and put in place generation `generation`; answer with `fetched`. */
  fetch(now: Micros, generation: number): void;
}

export class UpdateWatcher {
  /** The generation in place. */
  held = 0;
  /** A fetch in flight, or 0. */
  private fetching = 0;
  private fetchStartedUs = 0;
  private nextPollUs = 0;
  learned = 0;

  constructor(
    readonly config: WatcherConfig,
    private readonly port: WatcherPort,
  ) {
    if (!Number.isSafeInteger(config.pollEveryUs) || config.pollEveryUs < 1) throw new Error(`watcher: pollEveryUs must be whole microseconds above 0, got ${config.pollEveryUs}`);
  }

  /** The watcher (re)starts: it asks at once, since a notice may have come while it was away. */
  start(now: Micros): void {
    this.fetching = 0;
    this.nextPollUs = now;
    this.poll(now);
  }

  /** A pushed notice, or the answer to a poll. */
  notified(now: Micros, generation: number): void {
    if (generation <= this.held) return;
    // A fetch that has not answered within a poll period is taken as lost and asked again.
    if (generation <= this.fetching && now - this.fetchStartedUs < this.config.pollEveryUs) return;
    this.fetching = generation;
    this.fetchStartedUs = now;
    this.port.fetch(now, generation);
  }

  fetched(_now: Micros, generation: number, ok: boolean): void {
    if (generation !== this.fetching) return;
    this.fetching = 0;
    if (ok && generation > this.held) {
      this.held = generation;
      this.learned++;
    }
  }

  poll(now: Micros): void {
    if (now < this.nextPollUs) return;
    this.nextPollUs = now + this.config.pollEveryUs;
    this.port.poll(now, this.held);
  }

  nextWakeUs(): Micros {
    return this.nextPollUs;
  }
}
