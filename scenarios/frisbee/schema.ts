import { US_PER_DAY, US_PER_SEC } from "../../core/engine/index.js";
import { PROGRESS_LEVEL } from "../../core/frisbee/messages.js";
import type { ProgressRequest } from "../../core/frisbee/server.js";
import { pacingForBandwidth, type BurstPacing } from "../../core/frisbee/rate.js";
import { SERVER_DEFAULTS } from "../../core/frisbee/constants.js";
import type { FrisbeeClientsDecl, FrisbeeDecl, FrisbeeServerDecl } from "../../sim/frisbee/decl.js";
import type { Reader } from "../reader.js";
import { selectHosts } from "../selectors.js";
import { readStartPattern } from "../start.js";
import { parseBytes, parseDurationUs, parseRateBps } from "../units.js";

export type { FrisbeeClientsDecl, FrisbeeDecl, FrisbeeServerDecl };
// scenarios/sync reads arrival patterns with the same parser, from here.
export { parseStartPattern, type StartPattern } from "../start.js";

const IMAGE_BYTES_MAX = 2 ** 44;

export function readFrisbee(reader: Reader, names: readonly string[]): FrisbeeDecl {
  reader.fields(["servers", "clients"]);
  const servers = reader.at("servers").items().map((r) => readServer(r, names));
  if (servers.length === 0) reader.at("servers").fail("expected at least one server");
  const clients = reader.at("clients").items().map((r) => {
    const decl = readClients(r, names);
    if (decl.server >= servers.length) r.at("server").fail(`there is no server ${decl.server} (servers are numbered from 0)`);
    return decl;
  });
  return { servers, clients };
}

function readServer(r: Reader, names: readonly string[]): FrisbeeServerDecl {
  r.fields(["host", "group", "port", "image", "bandwidth", "burst", "gap", "dynamic", "idleExit", "progressRequest"]);
  const hosts = selectHosts(r.at("host"), names);
  if (hosts.length !== 1) r.at("host").fail(`a server runs on one host, this selects ${hosts.length}`);
  const image = r.at("image").fields(["compressed", "uncompressed"]);
  const compressedBytes = image.at("compressed").quantity(parseBytes, "655MiB", "a size", 1024, IMAGE_BYTES_MAX);
  const uncompressedBytes = image.at("uncompressed").present
    ? image.at("uncompressed").quantity(parseBytes, "2GiB", "a size", 1024, IMAGE_BYTES_MAX)
    : compressedBytes;
  return {
    host: hosts[0] as number,
    group: r.at("group").present ? r.at("group").number(0, 0x3fff_ffff, true) : 1,
    port: r.at("port").present ? r.at("port").number(1, 65_535, true) : 7700,
    compressedBytes,
    uncompressedBytes,
    pacing: readPacing(r),
    dynamic: r.at("dynamic").present ? r.at("dynamic").boolean() : false,
    idleExitUs: r.at("idleExit").present ? r.at("idleExit").quantity(parseDurationUs, "60s", "a duration", 0, 2 ** 52) : 60_000_000,
    progressRequest: r.at("progressRequest").present ? readProgressRequest(r.at("progressRequest")) : null,
  };
}

function readPacing(r: Reader): BurstPacing {
  if (r.at("bandwidth").present) {
    if (r.at("burst").present || r.at("gap").present) r.at("bandwidth").fail(`give either a bandwidth or a burst and gap, not both`);
    return pacingForBandwidth(r.at("bandwidth").quantity(parseRateBps, "72Mbit", "a rate", 10_000, 1e12));
  }
  return {
    burstPackets: r.at("burst").present ? r.at("burst").number(1, 100_000, true) : SERVER_DEFAULTS.burstPackets,
    burstGapUs: r.at("gap").present ? r.at("gap").quantity(parseDurationUs, "2ms", "a duration", 1, 60_000_000) : SERVER_DEFAULTS.burstGapUs,
  };
}

function readProgressRequest(r: Reader): ProgressRequest {
  r.fields(["interval", "level", "once"]);
  const once = r.at("once").present ? r.at("once").boolean() : false;
  const intervalUs = r.at("interval").quantity(parseDurationUs, "10s", "a duration", 0, US_PER_DAY);
  // With `once` the interval is only the time the asks spread over; otherwise the request carries it.
  if (!once && intervalUs % US_PER_SEC !== 0) r.at("interval").fail("the interval travels in whole seconds");
  const level = r.at("level").present ? r.at("level").oneOf(["none", "summary", "full"] as const) : "summary";
  return { intervalUs, level: PROGRESS_LEVEL[level], once };
}

function readClients(r: Reader, names: readonly string[]): FrisbeeClientsDecl {
  r.fields(["hosts", "server", "at", "start", "heartbeat", "join2", "leaveAt"]);
  const pattern = readStartPattern(r.at("start").present ? r.at("start").string() : "simultaneous");
  const start = typeof pattern === "string" ? r.at("start").fail(pattern) : pattern;
  const heartbeatUs = r.at("heartbeat").present ? r.at("heartbeat").quantity(parseDurationUs, "10s", "a duration", 0, US_PER_DAY) : 0;
  if (heartbeatUs % US_PER_SEC !== 0) r.at("heartbeat").fail("the heartbeat interval is whole seconds");
  return {
    hosts: selectHosts(r.at("hosts"), names),
    server: r.at("server").present ? r.at("server").number(0, 1_000, true) : 0,
    startUs: r.at("at").present ? r.at("at").quantity(parseDurationUs, "1s", "a duration", 0, 2 ** 52) : 0,
    start,
    heartbeatUs,
    join2: r.at("join2").present ? r.at("join2").boolean() : false,
    leaveAtUs: r.at("leaveAt").present ? r.at("leaveAt").quantity(parseDurationUs, "30s", "a duration", 1, 2 ** 52) : null,
  };
}
