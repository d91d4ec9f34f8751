import { CODE_BROKEN, CODE_LATE, CODE_OVERFLOW, CODE_TIMEOUT, USER_ERROR_LIMIT } from "../../core/sync/index.js";
import type { Scenario } from "../schema.js";
import type { SyncBarrierDecl } from "../../sim/sync/decl.js";
import type { SyncBuilt, SyncClientLife, SyncServerRecord } from "../../sim/sync/install.js";

/** How late past the deadline a client on an undisturbed host may learn of the release. */
export const DEADLINE_NOTICE_SLACK_US = 100_000;

/** Whether a fault or a lossy link touched `host` before `beforeUs` (judged from the scenario alone). */
export function disturbed(s: Scenario, host: number, beforeUs: number, server: number): boolean {
  for (const f of s.faults) {
    if (f.atUs >= beforeUs) continue;
    if (f.type === "partition") {
      if ((f.a.includes(host) && f.b.includes(server)) || (f.b.includes(host) && f.a.includes(server))) return true;
    } else if (f.hosts.includes(host) || f.hosts.includes(server)) return true;
  }
  return s.network.links.some((l) => l.loss !== undefined && l.loss !== null && (l.hosts.includes(host) || l.hosts.includes(server)));
}

function participants(b: SyncBarrierDecl): number[] {
  return [b.initializer, ...b.waiters];
}

function firstOf(built: SyncBuilt, kind: "init" | "release", name: string): SyncServerRecord | undefined {
  return built.records.find((r) => r.kind === kind && r.name === name && r.generation === 1);
}

function clockSlackUs(s: Scenario, host: number): number {
  const d = s.hosts[host];
  return d === undefined ? 0 : d.clockOffsetUs + Math.ceil((Math.abs(d.clockDriftPpm) * s.durationUs) / 1e6) + 1;
}

/**
 * Nobody is released before the count is reached unless the deadline or the crash policy says so:
 * a normal release comes after `count` waiters and the initializer sent; a timeout exactly at the
 * deadline; a broken barrier only when intolerant and a participant was disturbed; a surplus only
 * when more waiters than the count exist under the late policy.
 */
export function noEarlyRelease(s: Scenario, built: SyncBuilt): string | null {
  for (const b of built.decl.barriers) {
    const release = firstOf(built, "release", b.name);
    if (release === undefined) continue;
    const sentBy = (life: SyncClientLife): boolean => life.barrier === b && life.firstSendUs !== null && life.firstSendUs <= release.atUs;
    const waiters = new Set(built.clients.filter((c) => !c.init && sentBy(c)).map((c) => c.host));
    const initSent = built.clients.some((c) => c.init && sentBy(c));
    if (release.code < USER_ERROR_LIMIT) {
      if (!initSent) return `barrier ${b.name} released at ${release.atUs}us before its initializer sent`;
      if (waiters.size < b.count) return `barrier ${b.name} released at ${release.atUs}us with ${waiters.size} of ${b.count} waiters arrived`;
    } else if (release.code === CODE_TIMEOUT) {
      const init = firstOf(built, "init", b.name);
      if (b.deadlineMs === 0 || init === undefined) return `barrier ${b.name} timed out without a deadline`;
      const dueUs = init.atUs + b.deadlineMs * 1000;
      if (Math.abs(release.atUs - dueUs) > clockSlackUs(s, built.decl.server)) return `barrier ${b.name} timed out at ${release.atUs}us, deadline ${dueUs}us`;
    } else if (release.code === CODE_BROKEN) {
      if (b.crash !== "intolerant") return `barrier ${b.name} broke under the ${b.crash} policy`;
      if (!participants(b).some((h) => disturbed(s, h, release.atUs, built.decl.server))) return `barrier ${b.name} broke with no participant disturbed`;
    } else return `barrier ${b.name} released with unexpected code ${release.code}`;
  }
  for (const c of built.clients) {
    const code = c.client.outcome?.code;
    if (code === CODE_OVERFLOW && !(c.barrier.extra === "late" && c.barrier.waiters.length > c.barrier.count)) {
      return `a waiter of ${c.barrier.name} on host ${c.host} was turned away with no surplus`;
    }
    if (code === CODE_LATE && c.barrier.extra !== "late") return `a waiter of ${c.barrier.name} on host ${c.host} was told late under the new policy`;
  }
  return null;
}

/**
 * Barriers whose participants are owed an outcome: a deadline, or all expected arrive (a surplus is
 * told so under the late policy) and none crash for good. Under the original's "new" policy an
 * arrival after the release starts a new barrier and is owed nothing by this one.
 */
export function livenessOwed(s: Scenario, b: SyncBarrierDecl, initHeard: boolean): boolean {
  // A deadline starts when the INIT arrives: if its initializer never spoke, nothing is owed.
  if (b.deadlineMs > 0) return initHeard;
  if (!(b.count === b.waiters.length || (b.extra === "late" && b.count < b.waiters.length))) return false;
  const crashed = s.faults.some((f) => f.type === "crash" && participants(b).some((h) => f.hosts.includes(h)));
  const lossy = s.network.links.some((l) => l.loss !== undefined && l.loss !== null) || s.faults.some((f) => f.type === "loss");
  return !crashed && (b.extended || !lossy);
}

/** An upper bound on one request's trip to the server on an undisturbed path. */
function pathSlackUs(s: Scenario): number {
  return 4 * Math.max(s.network.defaults.latencyUs, ...s.network.links.map((l) => l.spec.latencyUs ?? 0)) + 1000;
}

/** Every participant that did not crash is released exactly once, with one code, where an outcome is owed. */
export function releasedOnce(s: Scenario, built: SyncBuilt, hostUp: (h: number) => boolean): string | null {
  const crashedHosts = new Set(s.faults.flatMap((f) => (f.type === "crash" ? f.hosts : [])));
  for (const c of built.clients) {
    if (c.client.conflicts > 0) return `client of ${c.barrier.name} on host ${c.host} got ${c.client.conflicts} replies with another code`;
  }
  const serverCrashed = crashedHosts.has(built.decl.server);
  const livesOf = new Map<string, SyncClientLife[]>();
  for (const c of built.clients) {
    const key = `${c.barrier.index}:${c.host}`;
    livesOf.set(key, [...(livesOf.get(key) ?? []), c]);
  }
  for (const b of built.decl.barriers) {
    if (serverCrashed || !livenessOwed(s, b, firstOf(built, "init", b.name) !== undefined)) continue;
    const releaseUs = firstOf(built, "release", b.name)?.atUs ?? Infinity;
    for (const h of participants(b)) {
      if (crashedHosts.has(h) || !hostUp(h)) continue;
      const lives = livesOf.get(`${b.index}:${h}`) ?? [];
      if (lives.length !== 1) return `host ${h} ran ${lives.length} clients of ${b.name}`;
      const life = lives[0] as SyncClientLife;
      // Under "new", a request that reached the server after the release joined the next barrier.
      const reachedUs = (life.firstSendUs ?? Infinity) + pathSlackUs(s);
      if (b.extra === "new" && (reachedUs > releaseUs || disturbed(s, h, releaseUs, built.decl.server))) continue;
      if (life.client.outcome === null) return `client of ${b.name} on host ${h} was never released`;
    }
  }
  return null;
}

/** Releases happen by the deadline: at the server, and at every client whose path was undisturbed. */
export function deadlineKept(s: Scenario, built: SyncBuilt): string | null {
  const latencyUs = Math.max(s.network.defaults.latencyUs, ...s.network.links.map((l) => l.spec.latencyUs ?? 0));
  for (const b of built.decl.barriers) {
    if (b.deadlineMs === 0) continue;
    const init = firstOf(built, "init", b.name);
    if (init === undefined) continue;
    const dueUs = init.atUs + b.deadlineMs * 1000 + clockSlackUs(s, built.decl.server);
    const release = firstOf(built, "release", b.name);
    if (release !== undefined && release.atUs > dueUs) return `barrier ${b.name} released at ${release.atUs}us, after its deadline ${dueUs}us`;
    const noticeUs = dueUs + 4 * latencyUs + DEADLINE_NOTICE_SLACK_US;
    if (s.durationUs <= noticeUs) continue;
    // With no release, the barrier vanished (every member undone) or someone still waits: judged below.
    const endUs = release?.atUs ?? dueUs;
    for (const c of built.clients) {
      if (c.barrier !== b || c.firstSendUs === null || c.firstSendUs > endUs) continue;
      if (b.extra === "new" && c.firstSendUs + pathSlackUs(s) > endUs) continue;
      if (disturbed(s, c.host, noticeUs, built.decl.server)) continue;
      if (c.outcomeUs === null || c.outcomeUs > noticeUs) return `client of ${b.name} on host ${c.host} learnt of the release at ${c.outcomeUs ?? "never"}, deadline ${dueUs}us`;
    }
  }
  return null;
}
