import { hostname, networkInterfaces } from "node:os";
import { Command, CommanderError, Option } from "commander";
import {
  checkName,
  CODE_NAMES,
  DAEMON_DEFAULTS,
  DEFAULT_BARRIER_NAME,
  EXIT_USAGE,
  SERVER_LIMITS,
  SYNC_PORT,
  USER_ERROR_LIMIT,
  type CrashPolicy,
  type ExtraPolicy,
} from "../core/sync/index.js";
import { DEFAULT_STORE_PATH, ExperimentError, openExperimentStore, openStore, type Store, type StoredEventInput } from "../real/store/index.js";
import { fdsNeeded, openFilesLimit, runSyncBench } from "../real/sync/bench.js";
import { syncCall, type SyncNotice } from "../real/sync/client.js";
import { startSyncServer, SyncListenError, type RunningSyncServer } from "../real/sync/server.js";
import { addressToIpv4 } from "../real/runtime/ipv4.js";
import {
  checkSyncServerFile,
  DEFAULT_SYNCSERVER_FILE,
  parseServerAddress,
  readSyncServerFile,
  SyncServerFileError,
  writeSyncServerFile,
  type ServerAddress,
} from "../real/sync/syncserver-file.js";
import { parseWhole, UsageError } from "./errors.js";
import { ask, NodeConfigFailure } from "./nodeconfig-command.js";
import { parseSyncServer } from "../core/experiment/nodeconfig.js";
import { statusLine } from "./progress.js";

/** Registers `syncd`, `sync`, `syncserver` and `bench sync` (`experiment` is bin/experiment-command.ts). */
export function registerSyncCommands(program: Command, groups: { bench: Command }): void {
  registerSyncd(program);
  registerSyncClient(program);
  registerTestbedSide(program);
  groups.bench
    .command("sync")
    .description("release N waiters on a loopback sync server and time it")
    .option("--waiters <n>", "waiters", "2000")
    .addOption(new Option("--transport <t>", "tcp or udp").choices(["tcp", "udp"]).default("tcp"))
    .option("--concurrency <n>", "TCP connections opened at once while waiters arrive", "200")
    .option("--udp-sockets <n>", "UDP sockets the waiters share", "64")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nA TCP waiter costs two open files on loopback: raise the limit first, e.g. `ulimit -n 8192`.\n\nExample:\n  testbed bench sync --waiters 2000 --transport tcp --json")
    .action((o: { waiters: string; transport: "tcp" | "udp"; concurrency: string; udpSockets: string; json?: boolean }) => {
      const waiters = parseWhole("--waiters", o.waiters, 1, SERVER_LIMITS.waitersPerBarrierMax);
      const limit = openFilesLimit();
      if (o.transport === "tcp" && limit !== null && limit < fdsNeeded(waiters)) {
        console.error(`testbed: the open-file limit is ${limit}, ${waiters} TCP waiters need ${fdsNeeded(waiters)}; raise it with \`ulimit -n ${fdsNeeded(waiters)}\` in this shell`);
        process.exitCode = 1;
        return;
      }
      const options = {
        waiters,
        transport: o.transport,
        concurrency: parseWhole("--concurrency", o.concurrency, 1, 100_000),
        udpSockets: parseWhole("--udp-sockets", o.udpSockets, 1, 4096),
      };
      void runSyncBench(options).then(
        (r) => {
          if (o.json) console.log(JSON.stringify(r));
          else {
            console.log(`${r.waiters} ${r.transport.toUpperCase()} waiters: released in ${r.releaseMs} ms after the last arrival`);
            console.log(`arrivals: ${r.arrivalsPerSec.toLocaleString("en-US")}/s (${r.arrivalMs} ms for all)${r.transport === "udp" ? `, ${r.retransmissions} retransmissions` : ""}`);
          }
          if (r.failed > 0) {
            const how = Object.entries(r.outcomes).filter(([k]) => k !== "0").map(([k, n]) => `${n} ${k}`).join(", ");
            console.error(`testbed: bench sync: ${r.failed} of ${r.waiters} waiters were not released (${how})`);
            process.exitCode = 1;
          }
        },
        (error: unknown) => {
          console.error(`testbed: bench sync: ${(error as Error).message}`);
          process.exitCode = 1;
        },
      );
    });
}

function registerSyncd(program: Command): void {
  program
    .command("syncd")
    .description("serve named barriers over TCP and UDP, compatible with emulab-syncd (SIGHUP releases everyone with 240)")
    .option("-p, --port <port>", "port", String(SYNC_PORT))
    .option("--host <addr>", "address to listen on", "0.0.0.0")
    .option("--no-tcp", "do not serve TCP")
    .option("--no-udp", "do not serve UDP")
    .option("--lease <s>", "seconds an extended UDP waiter may go unheard before it counts as crashed", String(DAEMON_DEFAULTS.leaseUs / 1e6))
    .option("--db <path>", "also record barrier events in this store")
    .option("--experiment <name>", "with --db: record them as this experiment's (the portal shows its barriers and who waits)")
    .option("--json", "log events as JSON lines")
    .addHelpText("after", "\nExample:\n  testbed syncd -p 16534 --db ./testbed.db --experiment exp-4")
    .action((o: { port: string; host: string; tcp: boolean; udp: boolean; lease: string; db?: string; experiment?: string; json?: boolean }) => {
      const port = parseWhole("--port", o.port, 0, 65_535);
      const leaseUs = parseWhole("--lease", o.lease, 1, 86_400) * 1_000_000;
      if (!o.tcp && !o.udp) throw new UsageError("--no-tcp and --no-udp leave nothing to serve");
      if (o.experiment !== undefined && o.db === undefined) throw new UsageError("--experiment: needs --db");
      const store = o.db === undefined ? null : eventStore(o.db, o.experiment);
      void serveSync({ port, host: o.host, tcp: o.tcp, udp: o.udp, leaseUs, store, json: o.json === true });
    });
}

/** Where syncd's events go: the store's events, or one experiment's (so they show as its barriers). */
interface SyncEventStore {
  insert(event: StoredEventInput): void;
  close(): void;
}

function eventStore(db: string, experiment: string | undefined): SyncEventStore {
  if (experiment === undefined) {
    const store: Store = openStore(db);
    return { insert: (e) => store.insertEvents(null, [e]), close: () => store.close() };
  }
  const store = openExperimentStore(db);
  if (store.experimentHead(experiment) === undefined) {
    store.close();
    throw new UsageError(`--experiment: no experiment named ${experiment} in ${db}`);
  }
  return { insert: (e) => store.saveEvents(experiment, [e]), close: () => store.close() };
}

async function serveSync(o: { port: number; host: string; tcp: boolean; udp: boolean; leaseUs: number; store: SyncEventStore | null; json: boolean }): Promise<void> {
  const started = Date.now();
  let daemon: RunningSyncServer["daemon"] | null = null;
  // Events go to the store until it closes; the stop below closes it only after the server is quiet.
  const emit = (kind: string, given: Readonly<Record<string, string | number | boolean>>): void => {
    // A barrier's member is named by the address it asked from, so the portal can say which node waits.
    const origin = typeof given.peer === "number" ? daemon?.originOfPeer(given.peer) : undefined;
    const fields = origin === undefined ? given : { ...given, from: /^\d+$/.test(origin) ? addressToIpv4(Number(origin)) : origin };
    if (o.json) console.log(JSON.stringify({ time: new Date().toISOString(), kind, ...fields }));
    else console.log(`${new Date().toISOString()} ${kind} ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(" ")}`);
    o.store?.insert({ timeUs: (Date.now() - started) * 1000, host: hostname(), kind, data: { ...fields } });
  };
  try {
    const server = await startSyncServer({ port: o.port, host: o.host, tcp: o.tcp, udp: o.udp, events: { emit }, daemon: { leaseUs: o.leaseUs } });
    daemon = server.daemon;
    emit("syncd.start", { host: o.host, tcp: server.tcpPort ?? "off", udp: server.udpPort ?? "off", connectionsMax: server.tcpStats.connectionsMax, perPeer: server.tcpStats.connectionsPerPeerMax, epoch: server.daemon.epoch });
    const reset = (): void => {
      emit("syncd.reset", { barriers: server.daemon.server.barrierCount });
      server.reset();
    };
    const stop = (signal: NodeJS.Signals): void => {
      process.off("SIGHUP", reset);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      emit("syncd.stopping", { signal, barriers: server.daemon.server.barrierCount });
      // In order: stop taking requests, answer every waiter (240) and record it, then close the store.
      void server.close().then(() => {
        const s = server.daemon.server.stats;
        const d = server.daemon.stats;
        const t = server.tcpStats;
        emit("syncd.stop", {
          signal, requests: s.requests, releases: s.releases, invalid: s.invalid, limited: s.limited, evicted: s.evicted,
          refused: d.refused + t.refused + t.refusedPeer, heldBack: JSON.stringify(server.daemon.server.sampled.held()),
        });
        o.store?.close();
        process.exitCode = 0;
      });
    };
    process.on("SIGHUP", reset);
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  } catch (error) {
    if (!(error instanceof SyncListenError)) throw error;
    console.error(`testbed: syncd: ${error.message}`);
    o.store?.close();
    process.exitCode = 1;
  }
}

interface SyncFlags {
  name: string;
  init?: string;
  a?: boolean;
  error?: string;
  server?: string;
  port?: string;
  udp?: boolean;
  timeout?: string;
  policy?: CrashPolicy;
  extra?: ExtraPolicy;
  generation?: string;
  plain?: boolean;
  syncserverFile: string;
  tmcd?: string;
  from?: string;
  debug?: boolean;
  m?: boolean;
  json?: boolean;
}

/** The sync server the node-configuration server names for this node; null (exit 68, name lookup) when it cannot say. */
async function syncServerFrom(tmcd: string, from: string | undefined): Promise<{ server: string; isServer: boolean } | null> {
  try {
    const lines = await ask(tmcd, from, "syncserver");
    const s = lines[0] === undefined ? null : parseSyncServer(lines[0]);
    if (s !== null) return { server: `${s.server}:${s.port}`, isServer: s.isServer };
    console.error(`testbed: sync: ${tmcd} names no sync server for ${from ?? "this node"}${lines.length === 0 ? " (is its experiment swapped in, with a sync server?)" : ""}`);
  } catch (error) {
    if (!(error instanceof NodeConfigFailure)) throw error;
    console.error(`testbed: sync: ${error.message}`);
  }
  process.exitCode = 68;
  return null;
}

/** The original client's usage errors exit 64, not testbed's usual 2. */
class SyncUsageError extends Error {}

function registerSyncClient(program: Command): void {
  const cmd = program
    .command("sync")
    .description("wait at a named barrier (compatible with emulab-sync); exits with the barrier's code")
    .option("-n, --name <name>", "barrier name", DEFAULT_BARRIER_NAME)
    .option("-i, --init <count>", "initialize the barrier for COUNT waiters (not counting this one)")
    .option("-a", "the initializer does not wait (INIT_NOWAIT)")
    .option("-e, --error <code>", "error code to pass, 0 to 239; everyone gets the highest")
    .option("-s, --server <host[:port]>", "sync server (default: read from the syncserver file)")
    .option("-p, --port <port>", "port", String(SYNC_PORT))
    .option("-u, --udp", "use UDP (request ids and retransmission unless --plain)")
    .option("--timeout <s>", "initializer: barrier deadline, everyone is released with 241; waiter: give up after this long")
    .addOption(new Option("--policy <p>", "what a member's crash does to the barrier (initializer)").choices(["tolerant", "intolerant"]))
    .addOption(new Option("--extra <p>", "arrivals beyond the count: late (told so) or new (start a new barrier, the original)").choices(["late", "new"]))
    .option("--generation <g>", "the generation to join; an earlier one is answered with 242 (late)")
    .option("--plain", "send exactly the original's request (no extensions), e.g. to an original server over UDP")
    .option("--syncserver-file <path>", "where the node's sync server is written", DEFAULT_SYNCSERVER_FILE)
    .option("--tmcd <host:port>", "ask the node-configuration server where the sync server is (instead of -s or the syncserver file)")
    .option("--from <addr>", "this node's address: tmcd knows the node by it, and the barrier request comes from it, so the sync server (and the portal) name the node (default: $TESTBED_ADDRESS, which the testbed gives a node's setup command)")
    .option("-d, --debug", "say what happens on stderr")
    .option("-m", "exit 0 if this node is the sync server, else 1")
    .option("--json", "print the outcome as JSON")
    .addHelpText(
      "after",
      `\nExit codes: 0 released, 1-239 the highest error passed, 240 server reset, 241 timeout, 242 late,\n243 broken (intolerant barrier lost a member), 244 overflow, 245 server limit, 246 invalid request,\n76 protocol failure, 68 name lookup failure, 64 usage error.\n\nExample:\n  testbed sync -s ops -n phase1 -i 99 --timeout 300 --policy tolerant`,
    )
    .action(async (o: SyncFlags, command: Command) => {
      try {
        if (o.tmcd !== undefined) {
          if (o.server !== undefined) throw new SyncUsageError("--tmcd tells the server: leave out -s");
          const told = await syncServerFrom(o.tmcd, o.from);
          if (told === null) return;
          if (o.m === true) {
            process.exitCode = told.isServer ? 0 : 1;
            return;
          }
          o.server = told.server;
        }
        runSyncClient(o, command.getOptionValueSource("port") === "cli");
      } catch (error) {
        if (!(error instanceof SyncUsageError)) throw error;
        console.error(`testbed: sync: ${error.message}`);
        process.exitCode = EXIT_USAGE;
      }
    });
  cmd.exitOverride((error: CommanderError) => {
    if (error.exitCode === 0) throw error;
    // Commander has printed its one line already; the original's client exits 64 on usage errors.
    process.exit(EXIT_USAGE);
  });
}

function whole(flag: string, text: string, min: number, max: number): number {
  try {
    return parseWhole(flag, text, min, max);
  } catch (error) {
    throw new SyncUsageError((error as Error).message);
  }
}

function runSyncClient(o: SyncFlags, portGiven: boolean): void {
  const name = Buffer.from(o.name, "utf8").toString("latin1");
  const count = o.init === undefined ? null : whole("-i", o.init, 0, SERVER_LIMITS.countMax);
  const error = o.error === undefined ? 0 : whole("-e", o.error, 0, USER_ERROR_LIMIT - 1);
  const timeoutSec = o.timeout === undefined ? 0 : whole("--timeout", o.timeout, 1, SERVER_LIMITS.deadlineMsMax / 1000);
  const generation = o.generation === undefined ? 0 : whole("--generation", o.generation, 1, 0xffff_ffff);
  if (o.a === true && count === null) throw new SyncUsageError("-a needs -i (only an initializer can choose not to wait)");
  if (count === null && (o.policy !== undefined || o.extra !== undefined)) throw new SyncUsageError("--policy and --extra are the initializer's (-i) to choose");
  const wantsExt = o.plain !== true && (o.udp === true || timeoutSec > 0 && count !== null || o.policy !== undefined || o.extra !== undefined || generation > 0);
  if (o.plain === true && (o.policy !== undefined || o.extra !== undefined || generation > 0)) throw new SyncUsageError("--plain sends no extensions: drop --policy, --extra and --generation");
  const problem = checkName(name, wantsExt);
  if (problem !== null) throw new SyncUsageError(`-n: ${problem}${wantsExt && checkName(name, false) === null ? " (or send the original's request with --plain)" : ""}`);
  const server = resolveServer(o);
  if (o.m === true) {
    process.exitCode = isThisHost(server.host) ? 0 : 1;
    return;
  }
  const flagPort = whole("-p", o.port ?? String(SYNC_PORT), 1, 65_535);
  if (server.port !== null && portGiven && server.port !== flagPort) {
    throw new SyncUsageError(`-s ${o.server ?? ""} names port ${server.port} and -p names ${flagPort}: give the port once`);
  }
  const port = server.port ?? flagPort;
  const log = o.debug === true ? (line: string) => console.error(`testbed: sync: ${line}`) : undefined;
  const notify = waitNotices(timeoutSec);
  // A node's setup command runs with its address in the environment (real/experiment/testbed.ts):
  // the request comes from it when this machine has it, so the server knows which node waits.
  const envFrom = process.env.TESTBED_ADDRESS === "" ? undefined : process.env.TESTBED_ADDRESS;
  const from = o.from ?? envFrom;
  void syncCall({
    host: server.host,
    port,
    transport: o.udp === true ? "udp" : "tcp",
    request: { type: count === null ? "wait" : "init", name, noWait: o.a === true, count: count ?? 0, error },
    ext: wantsExt ? { deadlineMs: count !== null ? timeoutSec * 1000 : 0, generation, crash: o.policy ?? "original", extra: o.extra ?? "new" } : null,
    timeoutMs: timeoutSec * 1000,
    notify,
    ...(from === undefined ? {} : { localAddress: from, localAddressOptional: o.from === undefined }),
    ...(log === undefined ? {} : { log }),
  }).then((r) => {
    notify({ kind: "done" });
    if (r.why !== null) console.error(`testbed: sync: ${r.why}`);
    if (o.json) console.log(JSON.stringify({ exit: r.exit, how: r.how, generation: r.generation, meaning: meaning(r.exit) }));
    log?.(`${r.how}: exit ${r.exit} (${meaning(r.exit)})`);
    process.exitCode = r.exit;
  });
}

/**
 * What a waiting client tells its user: once, in a line, that the server is not there and how it
 * keeps trying; then, on a terminal, a status line with the tries and the time so far.
 */
function waitNotices(timeoutSec: number): (n: SyncNotice | { kind: "done" }) => void {
  const status = statusLine();
  let told = false;
  return (n) => {
    if (n.kind === "done") return status.clear();
    const where = `${n.address}:${n.port}`;
    if (n.kind === "reached") {
      status.clear();
      if (told) console.error(`testbed: sync: the sync server at ${where} has the request; waiting at the barrier`);
      return;
    }
    if (!told) {
      told = true;
      const until = timeoutSec > 0 ? `, giving up after ${timeoutSec} s` : " until it answers (--timeout S gives up)";
      console.error(n.transport === "tcp"
        ? `testbed: sync: no sync server at ${where} (connection refused); trying again every ${n.retryMs / 1000} s${until}`
        : `testbed: sync: no answer yet from a sync server at ${where} (UDP); sending again with backoff, at least every ${n.retryMs / 1000} s${until}`);
    }
    status.show(`sync: waiting for the server at ${where} (${n.transport.toUpperCase()}): ${n.tries} tries, ${Math.round(n.waitedMs / 1000)} s`);
  };
}

function meaning(exit: number): string {
  if (exit === 0) return "released";
  if (exit < USER_ERROR_LIMIT && exit !== 68 && exit !== 76) return "released with an error";
  return CODE_NAMES[exit] ?? (exit === 76 ? "protocol failure" : exit === 68 ? "name lookup failure" : "unknown");
}

function resolveServer(o: SyncFlags): ServerAddress {
  if (o.server !== undefined) {
    const a = parseServerAddress(o.server);
    if (a === null) throw new SyncUsageError(`-s: expected host[:port], got "${o.server}"`);
    return a;
  }
  try {
    return readSyncServerFile(o.syncserverFile);
  } catch (error) {
    if (error instanceof SyncServerFileError) throw new SyncUsageError(error.message);
    throw error;
  }
}

function isThisHost(host: string): boolean {
  if (host === "localhost" || host === hostname() || host.split(".")[0] === hostname().split(".")[0]) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === host));
}

function registerTestbedSide(program: Command): void {
  program
    .command("syncserver")
    .description("print the SYNCSERVER line a node of an experiment is told, and write its syncserver file")
    .argument("<experiment>", "experiment name")
    .argument("<node>", "the node asking")
    .option("--file <path>", "write the node's syncserver file here (host[:port])")
    .option("-p, --port <port>", "a port other than 16534 to put in the file")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .addHelpText("after", "\nExample:\n  testbed syncserver exp1 node0 --file /var/emulab/boot/syncserver")
    .action((exp: string, node: string, o: { file?: string; port?: string; db: string }) => {
      const port = o.port === undefined ? null : parseWhole("--port", o.port, 1, 65_535);
      if (o.file !== undefined) checkSyncServerFile(o.file, [o.db]);
      // Only reads the store: a --db that names no store is refused, never created.
      withExperiments(o.db, { mustExist: true }, (store) => {
        const row = store.experiment(exp);
        if (row === undefined) throw new UsageError(`no experiment named ${exp}`);
        if (!row.nodes.some((n) => n.node === node)) throw new UsageError(`${node} is not a node of experiment ${exp}`);
        const server = store.syncServerOf(exp);
        console.log(`SYNCSERVER SERVER=${server.host} ISSERVER=${server.node === node ? 1 : 0}`);
        if (o.file !== undefined) writeSyncServerFile(o.file, { host: server.host, port }, [o.db]);
      });
    });
}

function withExperiments(db: string, options: { mustExist?: boolean }, fn: (store: ReturnType<typeof openExperimentStore>) => void): void {
  const store = openExperimentStore(db, options);
  try {
    fn(store);
  } catch (error) {
    if (error instanceof ExperimentError) throw new UsageError(error.message);
    throw error;
  } finally {
    store.close();
  }
}
