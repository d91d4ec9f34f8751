import { mkdirSync, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { WATCHDOG_FAILURES_MAX } from "../core/service/index.js";
import { KeyError, readKey } from "../real/agent/key.js";
import { NodeFileError, readNodeFile, type AgentAddress } from "../real/agent/nodes-file.js";
import { Controller, mapLimited, type NodeStatus } from "../real/agent/controller.js";
import { startAgent, startAgentPool, type RunningAgent } from "../real/agent/daemon.js";
import { LOG_FILE_BYTES_MAX, LOG_FILES_KEPT } from "../real/agent/logs.js";
import { DEFAULT_STORE_PATH, openServiceStore } from "../real/store/index.js";
import { checkOutputFolder, writeOutputFileSync } from "../real/output/index.js";
import { readServiceDefinition, type ServiceDefinition } from "../scenarios/service/definition.js";
import { runServiceBench } from "../real/agent/bench.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import { registerServicePlan } from "./service-plan-command.js";
import { registerServiceSweep } from "./service-sweep-command.js";
import { runChecksumRound } from "./service-checksum-round.js";
import { NETNS_ENV, runAgentInNetns, watchLifeline } from "./agent-netns.js";

const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface ServiceFlags {
  nodes: string;
  key: string;
  service?: string;
  release?: string;
  only?: string;
  out?: string;
  json?: boolean;
  db: string;
  store: boolean;
  repair?: boolean;
}

function userInput<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof NodeFileError || error instanceof KeyError) throw new UsageError(error.message);
    throw error;
  }
}

/** host:port, refusing anything else in one line. */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 0 && port <= 65_535)) throw new UsageError(`--listen: expected HOST:PORT (e.g. 127.0.0.1:7080), got "${text}"`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port };
}

async function agentCommand(o: { listen: string; key: string; dir: string; name?: string; pool?: string; giveUpAfter: string; netns?: string }): Promise<number | void> {
  const { host, port } = parseListen(o.listen);
  const key = userInput(() => readKey(o.key));
  if (o.netns !== undefined) return runAgentInNetns(o.netns);
  const watchdog = { failuresMax: parseWhole("--give-up-after", o.giveUpAfter, 1, WATCHDOG_FAILURES_MAX) };
  const log = (line: string): void => console.error(`agent: ${line}`);
  let agents: RunningAgent[];
  try {
    if (o.pool !== undefined) agents = await startAgentPool({ host, firstPort: port, key, dir: o.dir, count: parseWhole("--pool", o.pool, 1, 1_000), log, watchdog });
    else agents = [await startAgent({ host, port, key, dir: o.dir, node: o.name ?? `${host}:${port}`, log, watchdog })];
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UsageError(`--listen: ${o.listen} is already in use`);
    if (code === "EADDRNOTAVAIL") throw new UsageError(`--listen: ${host} is not an address of this machine`);
    throw error;
  }
  const netns = process.env[NETNS_ENV];
  const inNetns = netns === undefined ? "" : ` in network namespace ${netns}`;
  for (const [i, a] of agents.entries()) console.log(o.pool === undefined ? `agent: listening on ${host}:${a.port}${inNetns}, files in ${o.dir}` : `node${i} ${host}:${a.port}`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void Promise.all(agents.map((a) => a.stop())).then(() => {
      console.error("agent: stopped");
      process.exit(0);
    });
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  // Started by `agent --netns`: stop when the process that started it is gone.
  watchLifeline(stop);
}

interface Loaded {
  nodes: AgentAddress[];
  key: Buffer;
  def: ServiceDefinition | null;
}

function load(f: ServiceFlags, needService: boolean, storing: boolean): Loaded {
  const nodes = userInput(() => readNodeFile(f.nodes));
  const key = userInput(() => readKey(f.key));
  if (needService && f.service === undefined) throw new UsageError("--service: this command needs the service definition file");
  const def = f.service === undefined ? null : readServiceDefinition(f.service, nodes.map((n) => n.name));
  if (storing) checkServiceStore(f);
  return { nodes, key, def };
}

/**
 * Opens and checks the store before any agent is asked: a --db that is not a store costs no
 * rollout (the nodes changed, the record refused). A command that records its work may create it.
 */
function checkServiceStore(f: { store: boolean; db: string }): void {
  if (f.store) openServiceStore(f.db).close();
}

function targetsOf(f: ServiceFlags, l: Loaded): number[] {
  if (f.only === undefined) return l.nodes.map((_, i) => i);
  const set = l.def?.nodeSets.find((s) => s.name === f.only);
  if (set !== undefined) return [...set.nodes];
  const i = l.nodes.findIndex((n) => n.name === f.only);
  if (i < 0) throw new UsageError(`--only: "${f.only}" is neither a node set of ${l.def?.file} nor a node of ${f.nodes}`);
  return [i];
}

function serviceName(l: Loaded): string {
  return l.def?.name ?? "default";
}

function saveStatus(f: ServiceFlags, service: string, rows: readonly NodeStatus[]): void {
  if (!f.store) return;
  const store = openServiceStore(f.db);
  try {
    const now = new Date().toISOString();
    store.saveNodes(rows.map((r) => ({ service, node: r.node, address: r.address, nodeSet: r.nodeSet, version: r.version, previous: r.previous, healthy: r.healthy, restarts: r.restarts, error: r.error, updatedAt: now })));
  } finally {
    store.close();
  }
}

/** What the node's watchdog gave up on (it restarts it no more; the sweep restarts the node). */
function gaveUpNote(r: NodeStatus): string {
  const names = r.watchdog?.gaveUp ?? [];
  return names.length === 0 ? "" : `  WATCHDOG GAVE UP on ${names.join(", ")}`;
}

async function statusCommand(f: ServiceFlags): Promise<number> {
  const l = load(f, false, true);
  const c = new Controller(l.nodes, l.key, l.def);
  try {
    const rows = await c.status();
    saveStatus(f, serviceName(l), rows);
    if (f.json) {
      const stored = f.store ? openServiceStore(f.db) : null;
      try {
        console.log(JSON.stringify({ service: serviceName(l), nodes: rows, rollouts: stored?.rollouts(serviceName(l)) ?? [], checksums: stored?.checksums(serviceName(l)) ?? [], restarts: stored?.restarts(serviceName(l)) ?? [], reconciles: stored?.reconciles(serviceName(l)) ?? [] }));
      } finally {
        stored?.close();
      }
    } else {
      for (const r of rows) console.log(`${r.node.padEnd(12)} ${r.address.padEnd(21)} ${r.reachable ? `${(r.version ?? "-").padEnd(12)} ${r.healthy ? "healthy" : "NOT HEALTHY"}  restarts ${r.restarts}${gaveUpNote(r)}` : `UNREACHABLE: ${r.error}`}`);
    }
    return rows.every((r) => r.reachable && r.healthy) ? 0 : 1;
  } finally {
    c.close();
  }
}

function versionOf(f: ServiceFlags): string {
  if (f.release === undefined) throw new UsageError("--release: name the version to put in place (a label of letters, digits, . _ -)");
  if (!VERSION_PATTERN.test(f.release)) throw new UsageError(`--release: expected a label of letters, digits, . _ -, got "${f.release}"`);
  return f.release;
}

async function deployCommand(f: ServiceFlags): Promise<number> {
  const version = versionOf(f);
  const l = load(f, true, true);
  const c = new Controller(l.nodes, l.key, l.def);
  try {
    const results = await c.deploy(version);
    saveStatus(f, serviceName(l), await c.status());
    if (f.json) console.log(JSON.stringify({ service: serviceName(l), version, nodes: results }));
    else for (const r of results) console.log(`${r.node}: ${r.ok ? `on ${version}` : `FAILED: ${r.error}`}`);
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    c.close();
  }
}

async function rolloutCommand(f: ServiceFlags): Promise<number> {
  const version = versionOf(f);
  const l = load(f, true, true);
  const c = new Controller(l.nodes, l.key, l.def, (line) => console.error(`testbed: ${line}`));
  try {
    const startedAt = new Date().toISOString();
    const report = await c.rollout(version, targetsOf(f, l), (line) => {
      if (!f.json) console.log(line);
    });
    if (f.store) {
      const store = openServiceStore(f.db);
      try {
        store.saveRollout({ service: serviceName(l), version, state: report.state, reason: report.reason, targets: report.targets, startedAt, seconds: report.seconds, batches: report.batches });
      } finally {
        store.close();
      }
    }
    saveStatus(f, serviceName(l), await c.status());
    if (f.json) console.log(JSON.stringify({ service: serviceName(l), ...report }));
    else console.log(`rollout of ${version}: ${report.state}${report.reason === "" ? "" : ` (${report.reason})`} in ${report.seconds.toFixed(1)} s`);
    return report.state === "done" && report.nodes.every((n) => n.outcome === "done") ? 0 : 1;
  } finally {
    c.close();
  }
}

async function checksumCommand(f: ServiceFlags): Promise<number> {
  const l = load(f, true, true);
  if ((l.def as ServiceDefinition).checksumFiles.length === 0) throw new UsageError(`${f.service}: checksum: the definition names no files to hash`);
  const c = new Controller(l.nodes, l.key, l.def);
  try {
    const r = await runChecksumRound(c, { service: serviceName(l), repair: f.repair === true, db: f.store ? f.db : null });
    if (f.json) console.log(JSON.stringify(r.json));
    else for (const line of r.lines) console.log(line);
    return r.ok ? 0 : 1;
  } finally {
    c.close();
  }
}

/**
 * Collects every node's logs into OUT/NODE/, fetching only what is new since the last collection,
 * and keeping at most the agent's own cap per node (older rotated files are dropped).
 */
async function logsCommand(f: ServiceFlags): Promise<number> {
  const l = load(f, false, false);
  const out = f.out ?? "service-logs";
  // A file, a protected folder or a missing parent is refused before any agent is asked.
  checkOutputFolder(out, "log folder");
  // Ctrl-C between two copies: each copy is whole (temp + rename), and the line says so.
  exitCleanlyOnInterrupt(() => "the copies made so far are whole");
  const c = new Controller(l.nodes, l.key, l.def);
  const capBytes = LOG_FILE_BYTES_MAX * (LOG_FILES_KEPT + 1);
  try {
    const results = await mapLimited(l.nodes, 16, async (n, i) => {
      try {
        const files = await c.logs(i);
        const dir = join(out, n.name);
        nodeLogFolder(dir);
        let bytes = 0;
        for (const file of files.filter((x) => /\.log$/.test(x.name))) {
          const target = join(dir, file.name);
          if (existsSync(target) && !statSync(target).isFile()) throw new Error(`${target}: is not a file; the copy of the node's ${file.name} goes there`);
          const have = existsSync(target) ? readFileSync(target) : Buffer.alloc(0);
          let offset = have.byteLength <= file.size ? have.byteLength : 0;
          const parts: Uint8Array[] = offset === 0 ? [] : [have];
          while (offset < file.size) {
            const chunk = await c.logChunk(i, file.name, offset);
            if (chunk.data.byteLength === 0) break;
            parts.push(chunk.data);
            offset += chunk.data.byteLength;
          }
          let whole = Buffer.concat(parts);
          if (whole.byteLength > capBytes) whole = whole.subarray(whole.byteLength - capBytes);
          writeOutputFileSync(target, whole, { what: "log copy" });
          bytes += whole.byteLength;
        }
        return { node: n.name, ok: true, files: files.length, bytes, error: null };
      } catch (error) {
        return { node: n.name, ok: false, files: 0, bytes: 0, error: (error as Error).message };
      }
    });
    if (f.json) console.log(JSON.stringify({ out, nodes: results }));
    else for (const r of results) console.log(`${r.node}: ${r.ok ? `${r.bytes} bytes in ${join(out, r.node)}` : `FAILED: ${r.error}`}`);
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    c.close();
  }
}

/** OUT/NODE as a folder, made if missing; anything else of that name is the user's and is refused, not touched. */
function nodeLogFolder(dir: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir}: is a file, not a folder; the node's logs are collected in a folder of that name`);
  mkdirSync(dir, { recursive: true });
}

/** Async actions end after commander's parse returns: their errors are reported the command's way. */
function run<F>(fn: (f: F) => Promise<number | void>): (f: F) => Promise<void> {
  return (f) => runAsync(() => fn(f));
}

export function registerServiceCommands(program: Command, groups: { plan: Command; bench: Command }): void {
  registerServicePlan(groups.plan);
  program
    .command("agent")
    .description("the node agent: supervises the service's processes, runs checks, serves the controller over TCP to holders of the key")
    .requiredOption("--key <file>", "the operator's shared secret (at least 16 bytes)")
    .option("--listen <host:port>", "address to serve on (loopback unless told otherwise)", "127.0.0.1:7080")
    .option("--dir <dir>", "where the agent keeps the service's files, state and logs", "./agent")
    .option("--name <name>", "this node's name (default: its listen address)")
    .option("--pool <n>", "run N agents in this process on consecutive ports (0: ephemeral), in DIR/node0..; prints a node file")
    .option("--netns <name>", "run inside this network namespace (ip netns add NAME; needs root), as a host of its own")
    .option("--give-up-after <n>", "the watchdog gives up on a process after N failures in a row (restarts with backoff until then)", "8")
    .addHelpText("after", "\nExample:\n  testbed agent --listen 127.0.0.1:7080 --key operator.key --dir /var/testbed/agent\n  testbed agent --netns host1 --listen 10.0.0.11:7080 --key operator.key --dir /var/testbed/host1")
    .action(run(agentCommand));
  const service = program.command("service").description("deploy, roll out, check and collect logs of a service across agents");
  const common = (cmd: Command): Command =>
    cmd
      .requiredOption("--nodes <file>", "one `NAME HOST:PORT` a line")
      .requiredOption("--key <file>", "the operator's shared secret")
      .option("--service <file>", "the service definition (JSON)")
      .option("--db <path>", "store file", DEFAULT_STORE_PATH)
      .option("--no-store", "do not record the state in the store")
      .option("--json", "print JSON");
  common(service.command("status").description("each agent's version, health and restarts")).addHelpText("after", "\nExample:\n  testbed service status --nodes nodes.txt --key operator.key --json").action(run(statusCommand));
  common(service.command("deploy").description("copy and start a version on every node at once")).option("--release <label>", "the version's label (the program's own --version prints testbed's)").addHelpText("after", "\nExample:\n  testbed service deploy --nodes nodes.txt --key operator.key --service cdn.json --release v1").action(run(deployCommand));
  common(service.command("rollout").description("a staged rollout with batches, failure limits and rollback"))
    .option("--release <label>", "the version's label (the program's own --version prints testbed's)")
    .option("--only <set-or-node>", "roll out to one node set or one node")
    .addHelpText("after", "\nExample:\n  testbed service rollout --nodes nodes.txt --key operator.key --service cdn.json --release v2 --only alpha")
    .action(run(rolloutCommand));
  common(service.command("checksum").description("hash the definition's files on every node; the majority decides"))
    .option("--repair", "copy each file the majority decided from a majority node to the minority nodes of its version").addHelpText("after", "\nExample:\n  testbed service checksum --nodes nodes.txt --key operator.key --service cdn.json --repair").action(run(checksumCommand));
  registerServiceSweep(service);
  common(service.command("logs").description("collect every node's logs, keeping a bounded size per node")).option("--out <dir>", "where to collect", "service-logs").addHelpText("after", "\nExample:\n  testbed service logs --nodes nodes.txt --key operator.key --out logs/").action(run(logsCommand));
  groups.bench
    .command("service")
    .description("rollout time to local agents by batch size, and how soon a node sees a restart-less update")
    .option("--agents <n>", "agents (in one child process)", "100")
    .option("--batches <list>", "batch sizes to time", "1,5,10,25,100")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed bench service --agents 100 --batches 1,10,100 --json")
    .action(run(async (o: { agents: string; batches: string; json?: boolean }) => {
      const batches = o.batches.split(",").map((b) => parseWhole("--batches", b, 1, 100_000));
      const r = await runServiceBench({ agents: parseWhole("--agents", o.agents, 2, 1_000), batches });
      if (o.json) console.log(JSON.stringify(r));
      else {
        console.log(`${r.agents} agents on loopback; deploy ${r.deploySec} s`);
        for (const row of r.rollouts) console.log(`batch ${String(row.batch).padStart(4)}: rollout ${row.seconds} s (${row.perNodeMs} ms per node)${row.state === "done" ? "" : `: NOT DONE, ${row.state} (${row.reason}); not a rollout time`}`);
        console.log(`restart-less update pushed to all ${r.agents} at once, in place on each: p50 ${r.notice.p50Ms} ms, p95 ${r.notice.p95Ms} ms, max ${r.notice.maxMs} ms`);
        console.log(`the same to one node at a time: p50 ${r.noticeAlone.p50Ms} ms, max ${r.noticeAlone.maxMs} ms (${r.noticeAlone.runs} runs)`);
      }
      // A rollout that aborted measured no rollout time: the run failed (its figure says why).
      return r.rollouts.every((x) => x.state === "done") ? 0 : 1;
    }));
}
