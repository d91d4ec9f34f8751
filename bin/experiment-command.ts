import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { realSwapRunner } from "../scenarios/experiment/real-world.js";
import type { RealSwapRunner } from "../scenarios/experiment/swap.js";
import { parseRateBps } from "../scenarios/units.js";
import { checkNewExperiment, checkSiteVariable, DEFAULT_STORE_PATH, ExperimentError, openExperimentStore, SiteVariableError, type ExperimentStore } from "../real/store/index.js";
import { readExperimentFile } from "../scenarios/experiment/file.js";
import { experimentTemplate } from "../scenarios/experiment/template.js";
import { parseWhole, UsageError } from "./errors.js";
import { formatExperiment, formatList } from "./experiment-format.js";
import { registerDemoCommand } from "./demo-command.js";
import { registerNodeConfigCommands } from "./nodeconfig-command.js";
import { registerServeCommand } from "./serve-command.js";
import { registerSwapCommands } from "./swap-command.js";

/** Registers `experiment` (alias `exp`) and `sitevar`; `more` adds the swap commands to the group. */
export function registerExperimentCommands(program: Command, more: (exp: Command) => void = () => {}): void {
  const exp = program.command("experiment").alias("exp").description("experiments: files, swap-in and swap-out in the simulator or on real nodes, their state and progress");
  registerFileCommands(exp);
  registerSyncServerCommand(exp);
  registerSwapCommands(exp, realRunner);
  registerDemoCommand(exp);
  more(exp);
  registerSiteVariables(program);
  registerNodeConfigCommands(program);
  registerServeCommand(program, realRunner);
}

function registerFileCommands(exp: Command): void {
  exp
    .command("template")
    .description("print a valid experiment file to start from")
    .requiredOption("--nodes <n>", "how many nodes")
    .option("--sim", "for the simulator: image sizes, 1% loss, a few flaky nodes (else an image file and local nodes)")
    .option("--name <name>", "the experiment's name")
    .addHelpText("after", "\nExample:\n  testbed exp template --nodes 1000 --sim > sim-1000.json")
    .action((o: { nodes: string; sim?: boolean; name?: string }) => {
      const nodes = parseWhole("--nodes", o.nodes, 1, 100_000);
      console.log(JSON.stringify(experimentTemplate({ nodes, sim: o.sim === true, ...(o.name === undefined ? {} : { name: o.name }) }), null, 2));
    });
  exp
    .command("create")
    .description("record an experiment from its file (or, with --nodes, a bare one by name)")
    .argument("<file|name>", "experiment file (JSON); with --nodes, the experiment's name")
    .option("--nodes <list>", "node[=host],... for a bare experiment with no file (host defaults to the node's name)")
    .option("--sync-server <node>", "with --nodes: the node serving its barriers (default: the first node by name)")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print what was created as JSON")
    .addHelpText("after", "\nExamples:\n  testbed exp create sim-1000.json\n  testbed experiment create exp1 --nodes node0=10.0.0.1,node1=10.0.0.2 --sync-server node1")
    .action((arg: string, o: { nodes?: string; syncServer?: string; db: string; json?: boolean }) => {
      if (o.nodes === undefined && o.syncServer !== undefined) throw new UsageError("--sync-server goes with --nodes; an experiment file names its sync server itself");
      const created = o.nodes === undefined ? createFromFile(arg, o.db) : createBare(arg, o.nodes, o.syncServer ?? null, o.db);
      if (o.json) console.log(JSON.stringify(created));
      else console.log(`created experiment ${created.name}: ${created.nodes} node${created.nodes === 1 ? "" : "s"}, ${created.images} image${created.images === 1 ? "" : "s"}, sync server ${created.syncServer ?? "none"}, state new (in ${o.db})`);
    });
  exp
    .command("show")
    .description("an experiment's state, nodes, barrier, progress and time left")
    .argument("<name>", "experiment name")
    .option("--sim", "accepted for symmetry with swapin/swapout (the store holds both worlds)")
    .option("--nodes <n>", "node rows to print (failed and unfinished first)", "20")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed exp show sim-1000 --json")
    .action((name: string, o: { nodes: string; db: string; json?: boolean }) => {
      const rows = parseWhole("--nodes", o.nodes, 0, 100_000);
      withStore(o.db, (store) => {
        const row = store.experiment(name);
        if (row === undefined) throw new UsageError(`no experiment named ${name} in ${o.db}`);
        if (o.json) console.log(JSON.stringify({ ...row, partitions: store.partitions(name) }));
        else console.log(formatExperiment(row, rows));
      }, { mustExist: true });
    });
  exp
    .command("list")
    .description("experiments in the store, newest first")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print JSON")
    .action((o: { db: string; json?: boolean }) => {
      withStore(o.db, (store) => {
        const list = store.listExperiments();
        if (o.json) console.log(JSON.stringify({ experiments: list }));
        else console.log(list.length === 0 ? `no experiments in ${o.db}` : formatList(list));
      }, { mustExist: true });
    });
  exp
    .command("delete")
    .description("remove an experiment that is not swapped in (new, swapped or failed), with its saved disk records (image gc then removes the deltas)")
    .argument("<name>", "experiment name")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print JSON")
    .action((name: string, o: { db: string; json?: boolean }) => {
      withStore(o.db, (store) => store.deleteExperiment(name), { mustExist: true });
      console.log(o.json ? JSON.stringify({ deleted: name }) : `deleted experiment ${name}`);
    });
}

function createFromFile(file: string, db: string): { name: string; nodes: number; images: number; syncServer: string | null; state: string } {
  const spec = readExperimentFile(file);
  withStore(db, (store) => store.createFromSpec(spec));
  return { name: spec.name, nodes: spec.nodes.length, images: spec.images.length, syncServer: spec.syncServer, state: "new" };
}

function createBare(name: string, list: string, syncServer: string | null, db: string): { name: string; nodes: number; images: number; syncServer: string | null; state: string } {
  const nodes = list.split(",").map((item) => {
    const [node, host] = item.split("=");
    if (node === undefined || node === "" || host === "") throw new UsageError(`--nodes: "${item}" is not node[=host]`);
    return { node, host: host ?? node };
  });
  // Refused before the store opens: a refused experiment creates no store.
  refusedAsUsage(() => checkNewExperiment(name, nodes.map((n) => n.node), syncServer));
  let server: string | null = null;
  withStore(db, (store) => {
    store.createExperiment(name, nodes, syncServer);
    server = store.syncServerOf(name).node;
  });
  return { name, nodes: nodes.length, images: 0, syncServer: server, state: "new" };
}

function registerSyncServerCommand(exp: Command): void {
  exp
    .command("set-sync-server")
    .description("name the node that serves an experiment's barriers (tb-set-sync-server)")
    .argument("<name>", "experiment name")
    .argument("[node]", "the node; omit with --default to go back to the default")
    .option("--default", "use the default (the first node by name)")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .addHelpText("after", "\nExample:\n  testbed experiment set-sync-server exp1 node3")
    .action((name: string, node: string | undefined, o: { default?: boolean; db: string }) => {
      if ((node === undefined) === (o.default !== true)) throw new UsageError("give a node or --default");
      withStore(o.db, (store) => {
        store.setSyncServer(name, node ?? null);
        const server = store.syncServerOf(name);
        console.log(`experiment ${name}: sync server is now ${server.node} (${server.host}${node === undefined ? ", the first node by name" : ""})`);
      }, { mustExist: true });
    });
}

function registerSiteVariables(program: Command): void {
  program
    .command("sitevar")
    .description("site variables: testbed-wide settings such as images/frisbee/heartbeat (list, show, set, --unset)")
    .argument("[name]", "variable name; none lists them all")
    .argument("[value]", "new value")
    .option("--unset", "go back to the default")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  testbed sitevar\n  testbed sitevar images/frisbee/heartbeat 5")
    .action((name: string | undefined, value: string | undefined, o: { unset?: boolean; db: string; json?: boolean }) => {
      if (o.unset === true && (name === undefined || value !== undefined)) throw new UsageError("--unset takes a variable name and no value");
      // A typo or a bad value is refused before the store opens: a refused command creates no store.
      if (name !== undefined) refusedAsUsage(() => checkSiteVariable(name, value));
      withStore(o.db, (store) => {
        if (name !== undefined && value !== undefined) store.sitevars.set(name, value);
        if (name !== undefined && o.unset === true) store.sitevars.unset(name);
        const shown = name === undefined ? store.sitevars.list() : [store.sitevars.get(name)];
        if (o.json) console.log(JSON.stringify(name === undefined ? { variables: shown } : shown[0]));
        else for (const v of shown) console.log(`${v.name} = ${v.value}${v.isDefault ? " (default)" : ""}  # ${v.description}`);
      }, { mustExist: value === undefined && o.unset !== true });
    });
}

/**
 * Opens the experiment store for one command; the store's refusals of a user's request exit 2.
 * `mustExist` for commands that only read or change what must already be there: a --db that names
 * no store is refused rather than created.
 */
export function withStore<T>(db: string, fn: (store: ExperimentStore) => T, options: { mustExist?: boolean } = {}): T {
  const store = openExperimentStore(db, options);
  try {
    return refusedAsUsage(() => fn(store));
  } finally {
    store.close();
  }
}

/** The store's refusals of a user's request (a name, a value) are bad input: exit 2. */
function refusedAsUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ExperimentError || error instanceof SiteVariableError) throw new UsageError(error.message);
    throw error;
  }
}

/** `withStore` for a command that awaits (a swap): the store stays open until the promise settles. */
export async function withStoreAsync<T>(db: string, fn: (store: ExperimentStore) => Promise<T>, options: { mustExist?: boolean } = {}): Promise<T> {
  const store = openExperimentStore(db, options);
  try {
    return await fn(store);
  } catch (error) {
    if (error instanceof ExperimentError || error instanceof SiteVariableError) throw new UsageError(error.message);
    throw error;
  } finally {
    store.close();
  }
}

/** The real world's runner from the swap command's flags: local nodes, or the machines a node file names. */
export function realRunner(f: Record<string, unknown>): RealSwapRunner {
  const text = (key: string): string | undefined => (typeof f[key] === "string" ? (f[key] as string) : undefined);
  const bandwidth = parseRateBps(text("bandwidth") ?? "500Mbit");
  if (bandwidth === null || bandwidth <= 0) throw new UsageError(`--bandwidth: expected a rate such as 500Mbit, got "${text("bandwidth") ?? ""}"`);
  const exec = text("exec")?.trim().split(/\s+/) ?? [];
  return realSwapRunner({
    nodesDir: text("nodesDir") ?? "./testbed-nodes",
    nodesFile: text("nodesFile") ?? null,
    exec,
    tmcd: text("tmcd") ?? null,
    serverAddress: serverAddress(text("serverAddress") ?? "127.0.0.1"),
    syncPort: parseWhole("--sync-port", text("syncPort") ?? "16534", 1, 65_535),
    portBase: parseWhole("--port-base", text("portBase") ?? "7700", 1, 65_000),
    bandwidthBps: bandwidth,
    db: text("db") ?? DEFAULT_STORE_PATH,
    testbed: [process.execPath, fileURLToPath(new URL("./testbed.js", import.meta.url))],
  });
}

function serverAddress(text: string): string {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new UsageError(`--server-address: expected an IPv4 address, got "${text}"`);
  return text;
}
