import type { Command } from "commander";
import { checkMonitorConfig, deployedConfig, type MonitorConfig } from "../core/monitor/index.js";
import { RealMonitor, type RealMonitorSummary } from "../real/monitor/daemon.js";
import { isoTime, type MonitorLine } from "../real/monitor/lines.js";
import { NodeListError, readNodeList } from "../real/monitor/nodes-file.js";
import { parseTestSpec } from "../real/monitor/probe.js";
import { DEFAULT_STORE_PATH } from "../real/store/index.js";
import { parseWhole, UsageError } from "./errors.js";
import { report } from "./failure.js";

const SEC = 1_000_000;

interface MonitorFlags {
  nodes: string;
  test: string;
  window: string;
  timeout: string;
  loadMax: string;
  once?: boolean;
  for?: string;
  seed: string;
  db: string;
  json?: boolean;
}

/** The deployed configuration with the flags applied, checked as the machine checks it. */
export function monitorConfig(overrides: Partial<MonitorConfig>): MonitorConfig {
  const c = deployedConfig(overrides);
  const problem = checkMonitorConfig(c);
  if (problem !== null) throw new UsageError(`monitor configuration: ${problem}`);
  return c;
}

/** A line as the user reads it: the time first; or, with --json, one JSON object per line. */
function printer(json: boolean): (line: MonitorLine) => void {
  return (line) => {
    if (json) console.log(JSON.stringify({ time: isoTime(line.timeUs), kind: line.kind, ...(line.node === undefined ? {} : { node: line.node }), ...line.fields }));
    else console.log(`${isoTime(line.timeUs)} ${line.text}`);
  };
}

function stoppedLine(s: RealMonitorSummary, db: string): MonitorLine {
  const pools = Object.entries(s.pools).map(([k, v]) => `${k} ${v}`).join(", ");
  return {
    kind: "stopped",
    timeUs: Date.now() * 1_000,
    text: `monitor stopped: ${s.nodes} nodes (${s.resumed} resumed, ${s.added} new, ${s.corrupted} corrupted rows), ${s.testsRun} tests, ${s.timeouts} timeouts, ${s.moves} moves; pools: ${pools}; state in ${db}`,
    fields: { nodes: s.nodes, resumed: s.resumed, added: s.added, corrupted: s.corrupted, tests: s.testsRun, timeouts: s.timeouts, moves: s.moves, ...Object.fromEntries(Object.entries(s.pools).map(([k, v]) => [`pool.${k}`, v])), db },
  };
}

export function monitorCommand(f: MonitorFlags): void {
  const spec = parseTestSpec(f.test);
  if (typeof spec === "string") throw new UsageError(spec);
  const window = parseWhole("--window", f.window, 1, 100_000);
  const timeoutSec = parseWhole("--timeout", f.timeout, 1, 86_400);
  const loadMax = Number(f.loadMax);
  if (f.loadMax.trim() === "" || !Number.isFinite(loadMax) || loadMax <= 0) throw new UsageError(`--load-max: expected a positive number, got "${f.loadMax}"`);
  const runForMs = f.for === undefined ? undefined : parseWhole("--for", f.for, 1, 10 * 365 * 86_400) * 1_000;
  let nodes: string[];
  try {
    nodes = readNodeList(f.nodes);
  } catch (error) {
    if (error instanceof NodeListError) throw new UsageError(error.message);
    throw error;
  }
  const print = printer(f.json === true);
  // The store is opened, checked and claimed here, before any test runs.
  const daemon = new RealMonitor({
    nodes,
    test: spec,
    config: monitorConfig({ window, testTimeoutUs: timeoutSec * SEC, entryJitterUs: 0 }),
    dbPath: f.db,
    loadMax,
    once: f.once === true,
    ...(runForMs === undefined ? {} : { runForMs }),
    seed: parseWhole("--seed", f.seed, 0),
    log: print,
    warn: (line) => console.error(`testbed: warning: ${line}`),
  });
  const stop = (): void => daemon.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  daemon.run().then(
    (s) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      print(stoppedLine(s, f.db));
    },
    (error: unknown) => {
      process.exitCode = report(error);
    },
  );
}

export function registerRealMonitorCommand(program: Command): void {
  program
    .command("monitor")
    .description("test real nodes with a command or a TCP connect, in good and bad pools; state survives restarts in the store")
    .requiredOption("--nodes <file>", "node list: one name per line, # comments")
    .requiredOption("--test <command>", "shell command with {node} (exit 0 passes), or tcp:PORT exactly")
    .option("--window <n>", "tests in flight at once", "40")
    .option("--timeout <s>", "seconds before a test is killed and counts as failed", "600")
    .option("--load-max <n>", "no new test starts while the load average is above this", "8")
    .option("--once", "test every node that is due, then stop (saying when the next test is due if some are not)")
    .option("--for <s>", "stop after this many seconds")
    .option("--seed <n>", "seed for the backoff jitter", "1")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print each line as a JSON object")
    .addHelpText("after", "\nExample:\n  testbed monitor --nodes nodes.txt --test 'ssh -o ConnectTimeout=10 {node} true' --window 40 --timeout 600")
    .action((o: MonitorFlags) => {
      monitorCommand(o);
    });
}
