import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { PROCESS_NAME_PATTERN, parseBatchStep, parsePortRange, type BatchStep, type PortRange, type ProcessSpec } from "../../core/service/index.js";
import { Reader, ScenarioError, type Json } from "../reader.js";
import { selectHosts } from "../selectors.js";
import { parseDurationUs } from "../units.js";

/**
 * A service definition file (JSON): the startup program and its helpers, tarball sets per node
 * set, the experiment's port range, the files the checksum sweep hashes and the rollout's limits.
 * Read with the scenario reader, so every mistake is one line naming the file and the field;
 * tarball paths are relative to the definition and must exist.
 */
export interface TarballFile {
  readonly name: string;
  readonly path: string;
  readonly restart: boolean;
}

export interface NodeSetDefinition {
  readonly name: string;
  /** Indices into the node file's nodes. */
  readonly nodes: readonly number[];
  readonly tarballs: readonly TarballFile[];
}

export interface RolloutDefinition {
  readonly batches: readonly BatchStep[];
  readonly maxParallel: number;
  readonly maxFailPct: number;
  readonly maxFailTotal: number;
  readonly maxUnavailablePct: number;
  readonly progressDeadlineUs: number;
  readonly opTimeoutUs: number;
  readonly healthyUs: number;
}

export interface ServiceDefinition {
  readonly file: string;
  readonly name: string;
  readonly experiment: string;
  readonly ports: PortRange;
  /** The service's protocol version: agents of releases with different ones ignore each other's heartbeats. */
  readonly protocol: number;
  readonly processes: readonly ProcessSpec[];
  readonly nodeSets: readonly NodeSetDefinition[];
  readonly checksumFiles: readonly string[];
  readonly rollout: RolloutDefinition;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SEC = 1_000_000;

export function readServiceDefinition(file: string, nodeNames: readonly string[]): ServiceDefinition {
  let json: Json;
  try {
    json = JSON.parse(readFileSync(file, "utf8")) as Json;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined) throw new ScenarioError(`${file}: cannot read the service definition (${code === "ENOENT" ? "no such file" : (error as Error).message})`);
    throw new ScenarioError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const top = new Reader(file, "", json).fields(["name", "experiment", "ports", "protocol", "processes", "nodeSets", "checksum", "rollout"]);
  const name = top.at("name");
  if (!NAME.test(name.string())) name.fail("expected a name of letters, digits, . _ -");
  const experiment = top.at("experiment");
  if (!NAME.test(experiment.string())) experiment.fail("expected a name of letters, digits, . _ -");
  const portsReader = top.at("ports");
  const ports = parsePortRange(portsReader.string()) ?? portsReader.fail(`expected a port range like "20000-20099" within 1024-65535, got ${JSON.stringify(portsReader.value)}`);
  const processes = top.at("processes").items().map(readProcess);
  if (processes.length === 0) top.at("processes").fail("expected at least one process (the first is the startup program)");
  const seen = new Set<string>();
  processes.forEach((p, i) => {
    if (seen.has(p.name)) top.at("processes").items()[i]?.at("name").fail(`process "${p.name}" is declared twice`);
    seen.add(p.name);
  });
  const needed = processes.reduce((a, p) => a + p.ports, 0);
  if (needed > ports.last - ports.first + 1) portsReader.fail(`the range holds ${ports.last - ports.first + 1} ports, the processes take ${needed}`);
  const nodeSets = readNodeSets(top.at("nodeSets"), dirname(resolve(file)), nodeNames);
  const checksum = top.at("checksum");
  const checksumFiles = checksum.present ? checksum.items().map((r) => checkRelative(r)) : [];
  const protocol = top.at("protocol").present ? top.at("protocol").number(0, 65_535, true) : 1;
  return { file, name: name.string(), experiment: experiment.string(), ports, protocol, processes, nodeSets, checksumFiles, rollout: readRollout(top.at("rollout")) };
}

function checkRelative(r: Reader): string {
  const path = r.string();
  if (path === "" || path.startsWith("/") || path.split("/").includes("..")) r.fail("expected a path inside the service's files (relative, no ..)");
  return path;
}

function readProcess(r: Reader): ProcessSpec {
  r.fields(["name", "command", "ports", "check"]);
  const name = r.at("name");
  if (!PROCESS_NAME_PATTERN.test(name.string())) name.fail("expected a name of letters, digits, . _ -");
  const command = r.at("command").items().map((c) => c.string());
  if (command.length === 0) r.at("command").fail("expected the program and its arguments");
  const ports = r.at("ports").present ? r.at("ports").number(0, 100, true) : 1;
  const check = r.at("check");
  let checkTcp = false;
  let checkCommand: string[] | null = null;
  if (check.present) {
    check.fields(["tcp", "command"]);
    checkTcp = check.at("tcp").present ? check.at("tcp").boolean() : false;
    if (checkTcp && ports === 0) check.at("tcp").fail("a TCP check needs the process to take a port");
    checkCommand = check.at("command").present ? check.at("command").items().map((c) => c.string()) : null;
  }
  return { name: name.string(), command, ports, checkTcp, checkCommand };
}

function readNodeSets(r: Reader, base: string, nodeNames: readonly string[]): NodeSetDefinition[] {
  const taken = new Int32Array(nodeNames.length).fill(-1);
  const sets = r.items().map((item, s): NodeSetDefinition => {
    item.fields(["name", "nodes", "tarballs"]);
    const name = item.at("name");
    if (!NAME.test(name.string())) name.fail("expected a name of letters, digits, . _ -");
    // A node belongs to the first set that selects it.
    const nodes = selectHosts(item.at("nodes"), nodeNames).filter((n) => taken[n] === -1);
    for (const n of nodes) taken[n] = s;
    const tarballs = item.at("tarballs").items().map((t): TarballFile => {
      t.fields(["file", "restart"]);
      const rel = t.at("file");
      const path = resolve(base, rel.string());
      if (!existsSync(path)) rel.fail(`no such file: ${path}`);
      if (!statSync(path).isFile()) rel.fail(`not a file: ${path}`);
      return { name: rel.string(), path, restart: t.at("restart").present ? t.at("restart").boolean() : true };
    });
    if (tarballs.length === 0) item.at("tarballs").fail("expected at least one tarball");
    return { name: name.string(), nodes, tarballs };
  });
  if (sets.length === 0) r.fail("expected at least one node set");
  const orphan = nodeNames.findIndex((_, i) => taken[i] === -1);
  if (orphan >= 0) r.fail(`node ${nodeNames[orphan]} (from the node file) is in no node set`);
  return sets;
}

function readRollout(r: Reader): RolloutDefinition {
  const d: RolloutDefinition = { batches: [1, "25%"], maxParallel: 1, maxFailPct: 0, maxFailTotal: 0, maxUnavailablePct: 25, progressDeadlineUs: 600 * SEC, opTimeoutUs: 120 * SEC, healthyUs: 2 * SEC };
  if (!r.present) return d;
  r.fields(["batches", "maxParallel", "maxFailPct", "maxFailTotal", "maxUnavailablePct", "progressDeadline", "opTimeout", "healthy"]);
  const duration = (key: string, fallback: number): number => (r.at(key).present ? r.at(key).quantity(parseDurationUs, "10m", "a duration", 1, 86_400 * SEC) : fallback);
  const batches = r.at("batches").present
    ? r.at("batches").items().map((b) => {
        return parseBatchStep(typeof b.value === "number" ? String(b.value) : b.string()) ?? b.fail(`expected a count of at least 1 or a percentage like "20%", got ${JSON.stringify(b.value)}`);
      })
    : d.batches;
  if (batches.length === 0) r.at("batches").fail("expected at least one batch size");
  const num = (key: string, min: number, max: number, integer: boolean, fallback: number): number => (r.at(key).present ? r.at(key).number(min, max, integer) : fallback);
  return {
    batches,
    maxParallel: num("maxParallel", 1, 100_000, true, d.maxParallel),
    maxFailPct: num("maxFailPct", 0, 100, false, d.maxFailPct),
    maxFailTotal: num("maxFailTotal", 0, 1_000_000, true, d.maxFailTotal),
    maxUnavailablePct: num("maxUnavailablePct", 0, 100, false, d.maxUnavailablePct),
    progressDeadlineUs: duration("progressDeadline", d.progressDeadlineUs),
    opTimeoutUs: duration("opTimeout", d.opTimeoutUs),
    healthyUs: duration("healthy", d.healthyUs),
  };
}
