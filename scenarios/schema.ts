import type { LinkSpec } from "../sim/link.js";
import { burstParams, type LossSpec } from "../sim/loss.js";
import type { CpuRule, Direction, DiskRule, Fault, HostDecl, LinkRule, TrafficWorkload, WorldSpec } from "../sim/spec.js";
import { describe, Reader, ScenarioError, type Json } from "./reader.js";
import { readFrisbee, type FrisbeeDecl } from "./frisbee/schema.js";
import { readSync, type SyncDecl } from "./sync/schema.js";
import { selectHosts } from "./selectors.js";
import { parseByteRate, parseBytes, parseDurationUs, parseRateBps } from "./units.js";

export type { CpuRule, Direction, DiskRule, Fault, HostDecl, LinkRule, TrafficWorkload, WorldSpec };

/** Named limits on what a scenario may ask for; beyond them the file is refused, not run slowly. */
export const SCENARIO_HOSTS_MAX = 200_000;
export const SCENARIO_FLOWS_MAX = 100_000;
export const SCENARIO_DURATION_US_MAX = 366 * 86_400 * 1_000_000;
const RATE_BPS_MAX = 1e13;
const BYTES_MAX = 2 ** 50;

/** A scenario: the world it builds (sim/spec.ts), with its name, seed, checks and mechanisms. */
export interface Scenario extends WorldSpec {
  file: string;
  name: string;
  description: string;
  seed: number | null;
  durationUs: number;
  invariants: string[] | null;
  /** Frisbee servers and clients, if the scenario images disks. */
  frisbee: FrisbeeDecl | null;
  /** A sync server and its barriers, if the scenario synchronises nodes. */
  sync: SyncDecl | null;
}

export const DEFAULT_LINK: LinkSpec = { bandwidthBps: 1e9, latencyUs: 50, queueBytesMax: 256 * 1024 };

/** Parses and validates a scenario; throws ScenarioError naming the file, the field and why. */
export function parseScenario(text: string, file: string, knownInvariants: readonly string[]): Scenario {
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (error) {
    // The engine's message may quote the text, line breaks and all; a complaint is one line.
    throw new ScenarioError(`${file}: not valid JSON (${(error as Error).message.replace(/\s+/g, " ")})`);
  }
  const top = new Reader(file, "", json).fields([
    "name", "description", "seed", "duration", "hosts", "network", "disks", "cpus", "workloads", "faults", "invariants", "frisbee", "sync",
  ]);
  const hosts = readHosts(top.at("hosts"));
  const names = hosts.map((h) => h.name);
  const durationUs = top.at("duration").quantity(parseDurationUs, "30s", "a duration", 1, SCENARIO_DURATION_US_MAX);
  const scenario: Scenario = {
    file,
    name: top.at("name").present ? top.at("name").string() : file,
    description: top.at("description").present ? top.at("description").string() : "",
    seed: top.at("seed").present ? top.at("seed").number(0, Number.MAX_SAFE_INTEGER, true) : null,
    durationUs,
    hosts,
    network: readNetwork(top.at("network"), names),
    disks: top.at("disks").optionalItems().map((r) => readDisk(r, names)),
    cpus: top.at("cpus").optionalItems().map((r) => readCpu(r, names)),
    workloads: top.at("workloads").optionalItems().map((r, i) => readTraffic(r, i, names, durationUs)),
    faults: top.at("faults").optionalItems().map((r) => readFault(r, names, durationUs)),
    invariants: top.at("invariants").present ? readInvariants(top.at("invariants"), knownInvariants) : null,
    frisbee: top.at("frisbee").present ? readFrisbee(top.at("frisbee"), hosts.map((h) => h.name)) : null,
    sync: top.at("sync").present ? readSync(top.at("sync"), hosts.map((h) => h.name)) : null,
  };
  const flows = scenario.workloads.reduce((n, w) => n + w.from.length * Math.max(1, w.to.length), 0);
  if (flows > SCENARIO_FLOWS_MAX) top.at("workloads").fail(`${flows} flows is more than the limit of ${SCENARIO_FLOWS_MAX}`);
  return scenario;
}

function readHosts(reader: Reader): HostDecl[] {
  const hosts: HostDecl[] = [];
  const seen = new Set<string>();
  const items = reader.items();
  if (items.length === 0) reader.fail("expected at least one host");
  for (const item of items) {
    item.fields(["name", "count", "clockDriftPpm", "clockOffset"]);
    const name = item.at("name").string();
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(name)) item.at("name").fail(`${describe(name)} is not a host name (letters, digits, _ . -; starting with a letter)`);
    const count = item.at("count").present ? item.at("count").number(1, SCENARIO_HOSTS_MAX, true) : null;
    const clockDriftPpm = item.at("clockDriftPpm").present ? item.at("clockDriftPpm").number(-1000, 1000) : 0;
    const clockOffsetUs = item.at("clockOffset").present
      ? item.at("clockOffset").quantity(parseDurationUs, "5ms", "a duration", 0, SCENARIO_DURATION_US_MAX)
      : 0;
    const expanded = count === null ? [name] : Array.from({ length: count }, (_, i) => `${name}${i}`);
    for (const host of expanded) {
      if (seen.has(host)) item.at("name").fail(`host "${host}" is declared twice`);
      seen.add(host);
      hosts.push({ name: host, clockDriftPpm, clockOffsetUs });
    }
    if (hosts.length > SCENARIO_HOSTS_MAX) reader.fail(`more than ${SCENARIO_HOSTS_MAX} hosts`);
  }
  return hosts;
}

function readLinkSpec(reader: Reader): Partial<LinkSpec> {
  const spec: Partial<LinkSpec> = {};
  if (reader.at("bandwidth").present) {
    spec.bandwidthBps = reader.at("bandwidth").quantity(parseRateBps, "100Mbit", "a rate", 1000, RATE_BPS_MAX);
  }
  if (reader.at("latency").present) {
    spec.latencyUs = reader.at("latency").quantity(parseDurationUs, "100us", "a duration", 0, SCENARIO_DURATION_US_MAX);
  }
  if (reader.at("queue").present) spec.queueBytesMax = reader.at("queue").quantity(parseBytes, "256KiB", "a size", 64, BYTES_MAX);
  return spec;
}

function readNetwork(reader: Reader, names: readonly string[]): Scenario["network"] {
  if (!reader.present) return { headerBytes: 0, defaults: { ...DEFAULT_LINK }, links: [] };
  reader.fields(["headerBytes", "defaults", "links"]);
  const defaults = reader.at("defaults").present
    ? { ...DEFAULT_LINK, ...readLinkSpec(reader.at("defaults").fields(["bandwidth", "latency", "queue"])) }
    : { ...DEFAULT_LINK };
  const links = reader.at("links").optionalItems().map((item): LinkRule => {
    item.fields(["hosts", "direction", "bandwidth", "latency", "queue", "loss"]);
    return {
      hosts: selectHosts(item.at("hosts"), names),
      direction: item.at("direction").present ? item.at("direction").oneOf(["up", "down", "both"] as const) : "both",
      spec: readLinkSpec(item),
      loss: item.at("loss").present ? readLoss(item.at("loss")) : undefined,
    };
  });
  const headerBytes = reader.at("headerBytes").present ? reader.at("headerBytes").number(0, 65_535, true) : 0;
  for (const [i, link] of links.entries()) {
    const queue = link.spec.queueBytesMax ?? defaults.queueBytesMax;
    if (queue < headerBytes + 1) reader.at("links").items()[i]?.at("queue").fail(`queue of ${queue} bytes cannot hold one packet`);
  }
  return { headerBytes, defaults, links };
}

/** A number is a Bernoulli rate; objects name the model. `null` means no loss. */
export function readLoss(reader: Reader): LossSpec | null {
  const v = reader.value;
  if (v === null) return null;
  if (typeof v === "number") return { model: "bernoulli", rate: reader.number(0, 1) };
  reader.fields(["model", "rate", "meanBurst", "goodToBad", "badToGood", "lossGood", "lossBad"]);
  const model = reader.at("model").oneOf(["bernoulli", "gilbert-elliott"] as const);
  if (model === "bernoulli") return { model, rate: reader.at("rate").number(0, 1) };
  if (reader.at("rate").present || reader.at("meanBurst").present) {
    const rate = reader.at("rate").number(0, 1);
    if (rate <= 0 || rate >= 1) reader.at("rate").fail(`a bursty loss rate must be above 0 and below 1, got ${rate}`);
    const meanBurst = reader.at("meanBurst").number(1, 1e6);
    try {
      return { model, params: burstParams(rate, meanBurst) };
    } catch (error) {
      reader.fail((error as Error).message);
    }
  }
  return {
    model,
    params: {
      goodToBad: reader.at("goodToBad").number(0, 1),
      badToGood: reader.at("badToGood").number(1e-9, 1),
      lossGood: reader.at("lossGood").present ? reader.at("lossGood").number(0, 1) : 0,
      lossBad: reader.at("lossBad").present ? reader.at("lossBad").number(0, 1) : 1,
    },
  };
}

function readDisk(reader: Reader, names: readonly string[]): DiskRule {
  reader.fields(["hosts", "size", "write", "read", "latency", "writeErrorRate", "badRanges", "keepData"]);
  const sizeBytes = reader.at("size").quantity(parseBytes, "1GiB", "a size", 512, BYTES_MAX);
  return {
    hosts: selectHosts(reader.at("hosts"), names),
    sizeBytes,
    writeBytesPerSec: reader.at("write").quantity(parseByteRate, "100MiB/s", "a rate", 1, RATE_BPS_MAX),
    readBytesPerSec: reader.at("read").present
      ? reader.at("read").quantity(parseByteRate, "200MiB/s", "a rate", 1, RATE_BPS_MAX)
      : reader.at("write").quantity(parseByteRate, "100MiB/s", "a rate", 1, RATE_BPS_MAX),
    latencyUs: reader.at("latency").present
      ? reader.at("latency").quantity(parseDurationUs, "100us", "a duration", 0, SCENARIO_DURATION_US_MAX)
      : 0,
    writeErrorRate: reader.at("writeErrorRate").present ? reader.at("writeErrorRate").number(0, 1) : 0,
    badRanges: reader.at("badRanges").optionalItems().map((r) => {
      r.fields(["offset", "length"]);
      const offset = r.at("offset").quantity(parseBytes, "512", "a size", 0, sizeBytes - 1);
      return { offset, length: r.at("length").quantity(parseBytes, "4KiB", "a size", 1, sizeBytes - offset) };
    }),
    keepData: reader.at("keepData").present ? reader.at("keepData").boolean() : false,
  };
}

function readCpu(reader: Reader, names: readonly string[]): CpuRule {
  reader.fields(["hosts", "cores", "costs"]);
  const unitsPerSec: Record<string, number> = {};
  const costs = reader.at("costs");
  for (const work of Object.keys(costs.object())) {
    const r = costs.at(work);
    unitsPerSec[work] = typeof r.value === "number" ? r.number(1e-9, 1e15) : r.quantity(parseByteRate, "50MiB/s", "a rate", 1e-9, 1e15);
  }
  return {
    hosts: selectHosts(reader.at("hosts"), names),
    cores: reader.at("cores").present ? reader.at("cores").number(1, 1024, true) : 1,
    unitsPerSec,
  };
}

function readTraffic(reader: Reader, index: number, names: readonly string[], durationUs: number): TrafficWorkload {
  reader.fields(["type", "from", "to", "members", "port", "rate", "packet", "pattern", "start", "stop"]);
  reader.at("type").oneOf(["traffic"] as const);
  const to = reader.at("to");
  const groupMatch = typeof to.value === "string" ? /^group:(\d+)$/.exec(to.value) : null;
  const group = groupMatch === null ? null : Number(groupMatch[1]);
  if (group !== null && group > 0x3fff_ffff) to.fail(`group ${group} is out of range`);
  if (group === null && reader.at("members").present) reader.at("members").fail(`only a multicast workload ("to": "group:N") has members`);
  if (group !== null && !reader.at("members").present) reader.at("members").fail(`a multicast workload needs the hosts that join the group`);
  const startUs = reader.at("start").present ? reader.at("start").quantity(parseDurationUs, "1s", "a duration", 0, durationUs) : 0;
  const stopUs = reader.at("stop").present ? reader.at("stop").quantity(parseDurationUs, "20s", "a duration", 0, durationUs) : durationUs;
  if (stopUs < startUs) reader.at("stop").fail(`stop comes before start`);
  return {
    type: "traffic",
    index,
    from: selectHosts(reader.at("from"), names),
    to: group === null ? selectHosts(to, names) : [],
    group,
    members: group === null ? [] : selectHosts(reader.at("members"), names),
    port: reader.at("port").present ? reader.at("port").number(1, 65_535, true) : 5000 + index,
    rateBps: reader.at("rate").quantity(parseRateBps, "10Mbit", "a rate", 1, RATE_BPS_MAX),
    packetBytes: reader.at("packet").quantity(parseBytes, "1400", "a size", 1, 65_507),
    pattern: reader.at("pattern").present ? reader.at("pattern").oneOf(["constant", "poisson"] as const) : "constant",
    startUs,
    stopUs,
  };
}

function readFault(reader: Reader, names: readonly string[], durationUs: number): Fault {
  const type = reader.at("type").oneOf(["partition", "crash", "pause", "loss"] as const);
  const atUs = reader.at("at").quantity(parseDurationUs, "5s", "a duration", 0, durationUs);
  const after = (field: string): number | null =>
    reader.at(field).present ? reader.at(field).quantity(parseDurationUs, "2s", "a duration", 1, SCENARIO_DURATION_US_MAX) : null;
  switch (type) {
    case "partition": {
      reader.fields(["type", "at", "heal", "a", "b", "oneWay"]);
      const a = selectHosts(reader.at("a"), names);
      const b = selectHosts(reader.at("b"), names);
      const both = a.find((h) => b.includes(h));
      if (both !== undefined) reader.at("b").fail(`host "${names[both]}" is on both sides`);
      const oneWay = reader.at("oneWay").present ? reader.at("oneWay").boolean() : false;
      const heal = after("heal");
      return { type, atUs, healUs: heal === null ? null : atUs + heal, a, b, oneWay };
    }
    case "crash": {
      reader.fields(["type", "at", "hosts", "restart"]);
      const restart = after("restart");
      return { type, atUs, hosts: selectHosts(reader.at("hosts"), names), restartUs: restart === null ? null : atUs + restart };
    }
    case "pause": {
      reader.fields(["type", "at", "hosts", "for"]);
      return { type, atUs, hosts: selectHosts(reader.at("hosts"), names), forUs: after("for") ?? reader.at("for").fail("a pause needs a duration") };
    }
    case "loss": {
      reader.fields(["type", "at", "hosts", "direction", "loss"]);
      if (!reader.at("loss").present) reader.at("loss").fail("expected a loss rate, a loss model, or null");
      return {
        type,
        atUs,
        hosts: selectHosts(reader.at("hosts"), names),
        direction: reader.at("direction").present ? reader.at("direction").oneOf(["up", "down", "both"] as const) : "both",
        loss: readLoss(reader.at("loss")),
      };
    }
  }
}

function readInvariants(reader: Reader, known: readonly string[]): string[] {
  return reader.items().map((item) => {
    const name = item.string();
    if (!known.includes(name)) item.fail(`unknown invariant ${describe(name)} (known: ${known.join(", ")})`);
    return name;
  });
}
