import type { ExperimentEvent } from "../store/index.js";

/** Most barriers one experiment page lists (its sync server may hold many names). */
export const PORTAL_BARRIERS_MAX = 200;
/** The sync server's events read for one page: the latest ones, enough for every barrier still open. */
export const PORTAL_SYNC_EVENTS_MAX = 5_000;
/** Names of waiting nodes listed per barrier. */
export const PORTAL_WAITERS_MAX = 100;

/**
 * One barrier as the page shows it. The boot barrier is counted with ready bits (as Emulab did):
 * `waiting` are the nodes not ready yet. A sync-server barrier is counted by its server: `waiting`
 * are the nodes that have arrived and wait for the others, `expected` how many more must come.
 */
export interface PortalBarrier {
  readonly name: string;
  readonly kind: "boot" | "sync";
  readonly generation: number | null;
  readonly state: "waiting" | "released";
  readonly arrived: number;
  /** Members it releases at (boot: every node; sync: the initializers' counts plus the initializers that wait), null before an initializer came. */
  readonly total: number | null;
  /** Still to come before it releases (sync: the server's counter). */
  readonly expected: number | null;
  readonly waiting: readonly string[];
  /** The code everyone was released with (sync), null while it holds. */
  readonly code: number | null;
}

interface BootFigures {
  readonly ready?: number;
  readonly total?: number;
  readonly waitingFor?: readonly string[];
}

/** The boot barrier from the swap's figures, then every barrier of the experiment's sync server from its events (latest generation of each name). */
export function portalBarriers(progress: Readonly<Record<string, unknown>>, syncEvents: readonly ExperimentEvent[], nodeOf: ReadonlyMap<string, string>): PortalBarrier[] {
  const boot = (progress.barrier ?? {}) as BootFigures;
  const out: PortalBarrier[] = [];
  if (typeof boot.total === "number") {
    const ready = boot.ready ?? 0;
    out.push({ name: "boot", kind: "boot", generation: null, state: ready >= boot.total && boot.total > 0 ? "released" : "waiting", arrived: ready, total: boot.total, expected: boot.total - ready, waiting: boot.waitingFor ?? [], code: null });
  }
  return [...out, ...syncBarriers(syncEvents, nodeOf)];
}

interface Open {
  name: string;
  generation: number;
  count: number;
  counter: number | null;
  /** Initializers that wait too: members beyond the count they ask for. */
  initWaiters: number;
  arrived: number;
  members: string[];
  code: number | null;
}

function syncBarriers(events: readonly ExperimentEvent[], nodeOf: ReadonlyMap<string, string>): PortalBarrier[] {
  const byName = new Map<string, Open>();
  for (const e of events) {
    const d = e.data as Record<string, unknown>;
    if (typeof d.name !== "string" || typeof d.generation !== "number") continue;
    let b = byName.get(d.name);
    if (b === undefined || b.generation < d.generation) {
      if (b === undefined && byName.size >= PORTAL_BARRIERS_MAX) continue;
      b = { name: d.name, generation: d.generation, count: 0, counter: null, initWaiters: 0, arrived: 0, members: [], code: null };
      byName.set(d.name, b);
    } else if (b.generation > d.generation) continue;
    const who = typeof d.from === "string" ? (nodeOf.get(d.from) ?? d.from) : null;
    if (e.kind === "sync.init") b.count += typeof d.count === "number" ? d.count : 0;
    if (e.kind === "sync.init" && d.waits !== false) b.initWaiters++;
    if (e.kind === "sync.wait" || (e.kind === "sync.init" && d.waits !== false)) {
      b.arrived++;
      if (who !== null && b.members.length < PORTAL_WAITERS_MAX) b.members.push(who);
    }
    if (typeof d.counter === "number") b.counter = d.counter;
    if (e.kind === "sync.release") b.code = typeof d.code === "number" ? d.code : 0;
  }
  return [...byName.values()].map((b) => ({
    name: b.name,
    kind: "sync",
    generation: b.generation,
    state: b.code === null ? "waiting" : "released",
    arrived: b.arrived,
    total: b.count > 0 ? b.count + b.initWaiters : null,
    expected: b.code !== null ? 0 : b.counter === null ? null : Math.max(0, b.counter),
    waiting: b.code === null ? b.members : [],
    code: b.code,
  }));
}
