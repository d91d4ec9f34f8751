import { checkName } from "../../core/sync/codec.js";
import { CLIENT_DEFAULTS, DAEMON_DEFAULTS, SERVER_LIMITS, SYNC_PORT, USER_ERROR_LIMIT } from "../../core/sync/index.js";
import type { SyncBarrierDecl, SyncDecl } from "../../sim/sync/decl.js";
import { parseStartPattern } from "../frisbee/schema.js";
import type { Reader } from "../reader.js";
import { selectHosts } from "../selectors.js";
import { parseDurationUs } from "../units.js";

export type { SyncBarrierDecl, SyncDecl };

/** Most barriers one scenario declares. */
export const SYNC_BARRIERS_MAX = 1_000;
const DURATION_MAX = 2 ** 52;

export function readSync(reader: Reader, names: readonly string[]): SyncDecl {
  reader.fields(["server", "port", "lease", "barriers"]);
  const server = selectHosts(reader.at("server"), names);
  if (server.length !== 1) reader.at("server").fail(`a sync server runs on one host, this selects ${server.length}`);
  const items = reader.at("barriers").items();
  if (items.length === 0) reader.at("barriers").fail("expected at least one barrier");
  if (items.length > SYNC_BARRIERS_MAX) reader.at("barriers").fail(`more than ${SYNC_BARRIERS_MAX} barriers`);
  const barriers = items.map((r, i) => readBarrier(r, i, names, server[0] as number));
  const seen = new Set<string>();
  barriers.forEach((b, i) => {
    if (seen.has(b.name)) items[i]?.at("name").fail(`barrier "${b.name}" is declared twice`);
    seen.add(b.name);
  });
  const leaseUs = reader.at("lease").present
    ? reader.at("lease").quantity(parseDurationUs, "15s", "a duration", 1000, DURATION_MAX)
    : DAEMON_DEFAULTS.leaseUs;
  for (const [i, b] of barriers.entries()) {
    if (b.retransmitMaxUs * 2 > leaseUs) items[i]?.at("retransmitMax").fail(`the lease (${leaseUs}us) must be at least twice the longest retransmission gap`);
  }
  return {
    server: server[0] as number,
    port: reader.at("port").present ? reader.at("port").number(1, 65_535, true) : SYNC_PORT,
    leaseUs,
    barriers,
  };
}

function readBarrier(r: Reader, index: number, names: readonly string[], server: number): SyncBarrierDecl {
  r.fields(["name", "initializer", "waiters", "count", "initAt", "at", "arrive", "arrivals", "deadline", "crash", "extra", "noWait", "extended", "errors", "retransmit", "retransmitMax"]);
  const name = r.at("name").present ? r.at("name").string() : "barrier";
  const extended = r.at("extended").present ? r.at("extended").boolean() : true;
  const problem = checkName(name, extended);
  if (problem !== null) r.at("name").fail(problem);
  const init = selectHosts(r.at("initializer"), names);
  if (init.length !== 1) r.at("initializer").fail(`a barrier has one initializer, this selects ${init.length}`);
  const initializer = init[0] as number;
  const waiters = selectHosts(r.at("waiters"), names).filter((h) => h !== initializer && h !== server);
  const arriveText = r.at("arrive").present ? r.at("arrive").string() : "simultaneous";
  const deadlineUs = r.at("deadline").present ? r.at("deadline").quantity(parseDurationUs, "30s", "a duration", 1000, SERVER_LIMITS.deadlineMsMax * 1000) : 0;
  if (deadlineUs % 1000 !== 0) r.at("deadline").fail("a deadline travels in whole milliseconds");
  if (!extended && (r.at("deadline").present || r.at("crash").present || r.at("extra").present)) {
    r.at("extended").fail("deadline, crash and extra need the extensions");
  }
  const duration = (field: string, example: string, fallback: number): number =>
    r.at(field).present ? r.at(field).quantity(parseDurationUs, example, "a duration", 0, DURATION_MAX) : fallback;
  const retransmitUs = duration("retransmit", "250ms", CLIENT_DEFAULTS.retransmitUs);
  const retransmitMaxUs = duration("retransmitMax", "4s", Math.max(retransmitUs, CLIENT_DEFAULTS.retransmitMaxUs));
  if (retransmitUs < 1000) r.at("retransmit").fail("a retransmission gap is at least 1ms");
  if (retransmitMaxUs < retransmitUs) r.at("retransmitMax").fail("shorter than the first retransmission gap");
  return {
    index,
    name,
    initializer,
    waiters,
    count: r.at("count").present ? r.at("count").number(0, SERVER_LIMITS.countMax, true) : waiters.length,
    initAtUs: duration("initAt", "2s", 0),
    arriveAtUs: duration("at", "1s", 0),
    arrive: parseStartPattern(arriveText) ?? r.at("arrive").fail(`expected "simultaneous", "clustered:K:S" or "uniform:S", got "${arriveText}"`),
    arrivalsUs: readArrivals(r.at("arrivals"), waiters.length),
    deadlineMs: deadlineUs / 1000,
    crash: r.at("crash").present ? r.at("crash").oneOf(["original", "tolerant", "intolerant"] as const) : "original",
    extra: r.at("extra").present ? r.at("extra").oneOf(["new", "late"] as const) : "new",
    noWait: r.at("noWait").present ? r.at("noWait").boolean() : false,
    extended,
    errors: readErrors(r.at("errors"), names),
    retransmitUs,
    retransmitMaxUs,
  };
}

function readArrivals(r: Reader, waiters: number): number[] | null {
  if (!r.present) return null;
  const items = r.items();
  if (items.length !== waiters) r.fail(`expected one arrival time per waiter (${waiters}), got ${items.length}`);
  return items.map((item) => item.quantity(parseDurationUs, "1.5s", "a duration", 0, DURATION_MAX));
}

function readErrors(r: Reader, names: readonly string[]): Map<number, number> {
  const errors = new Map<number, number>();
  if (!r.present) return errors;
  for (const host of Object.keys(r.object())) {
    const id = names.indexOf(host);
    if (id < 0) r.at(host).fail(`no host named "${host}"`);
    errors.set(id, r.at(host).number(0, USER_ERROR_LIMIT - 1, true));
  }
  return errors;
}
