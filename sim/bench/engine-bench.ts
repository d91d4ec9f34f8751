import { performance } from "node:perf_hooks";
import { createRng, Engine } from "../../core/engine/index.js";
import { BareHeap } from "./bare-heap.js";

export interface EngineBenchOptions {
  pendingEvents: number;
  events: number;
  seed: number;
  /** Timed rounds of each contender; the best round counts. */
  rounds: number;
}

export interface EngineBenchResult {
  pendingEvents: number;
  events: number;
  rounds: number;
  eventsPerSec: number;
  bareHeapEventsPerSec: number;
  ratio: number;
  engineSeconds: number;
  bareHeapSeconds: number;
  traceHash: string;
}

const DELAY_TABLE_SIZE = 1 << 16;
/** Mean delay of a rescheduled event; with N pending the queue holds N events spread over it. */
const DELAY_MEAN_US = 1_000_000;

/**
 * The hold model: `pendingEvents` events wait; each executed event schedules one more at a random
 * delay, so the queue size stays constant while `events` events run. Both contenders draw delays
 * from the same precomputed table, so randomness is not what is measured.
 */
export function runEngineBench(options: EngineBenchOptions): EngineBenchResult {
  const delays = makeDelays(options.seed);
  let bestEngine = Infinity;
  let bestBare = Infinity;
  let traceHash = "";
  for (let round = 0; round < options.rounds; round++) {
    const bare = timeBareHeap(options, delays);
    const engine = timeEngine(options, delays);
    bestBare = Math.min(bestBare, bare);
    bestEngine = Math.min(bestEngine, engine.seconds);
    traceHash = engine.traceHash;
  }
  const eventsPerSec = options.events / bestEngine;
  const bareHeapEventsPerSec = options.events / bestBare;
  return {
    pendingEvents: options.pendingEvents,
    events: options.events,
    rounds: options.rounds,
    eventsPerSec: Math.round(eventsPerSec),
    bareHeapEventsPerSec: Math.round(bareHeapEventsPerSec),
    ratio: Math.round((eventsPerSec / bareHeapEventsPerSec) * 1000) / 1000,
    engineSeconds: bestEngine,
    bareHeapSeconds: bestBare,
    traceHash,
  };
}

function makeDelays(seed: number): Float64Array {
  const rng = createRng(seed).fork("bench-engine");
  const delays = new Float64Array(DELAY_TABLE_SIZE);
  for (let i = 0; i < delays.length; i++) delays[i] = 1 + Math.floor(rng.exponential(DELAY_MEAN_US));
  return delays;
}

function timeBareHeap(options: EngineBenchOptions, delays: Float64Array): number {
  const heap = new BareHeap(options.pendingEvents + 1);
  let seq = 0;
  let d = 0;
  for (let i = 0; i < options.pendingEvents; i++) {
    heap.push(delays[d++ & (DELAY_TABLE_SIZE - 1)] as number, seq++);
  }
  const started = performance.now();
  for (let i = 0; i < options.events; i++) {
    const now = heap.pop();
    heap.push(now + (delays[d++ & (DELAY_TABLE_SIZE - 1)] as number), seq++);
  }
  return (performance.now() - started) / 1000;
}

function timeEngine(options: EngineBenchOptions, delays: Float64Array): { seconds: number; traceHash: string } {
  const engine = new Engine();
  let d = 0;
  const hold = engine.register<undefined>("hold", (arg) => {
    engine.after(delays[d++ & (DELAY_TABLE_SIZE - 1)] as number, hold, arg);
  });
  for (let i = 0; i < options.pendingEvents; i++) {
    engine.at(delays[d++ & (DELAY_TABLE_SIZE - 1)] as number, hold, i);
  }
  const started = performance.now();
  engine.run({ eventsMax: options.events });
  const seconds = (performance.now() - started) / 1000;
  return { seconds, traceHash: engine.trace.hex() };
}
