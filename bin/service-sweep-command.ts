import type { Command } from "commander";
import { parseCommandLine } from "../real/agent/command-line.js";
import { KeyError, readKey } from "../real/agent/key.js";
import { NodeFileError, readNodeFile } from "../real/agent/nodes-file.js";
import { Controller } from "../real/agent/controller.js";
import { RECONCILE_PER_ROUND_MAX, SweepController, type SweepRound } from "../real/agent/sweeper.js";
import { DEFAULT_STORE_PATH, openServiceStore } from "../real/store/index.js";
import { readServiceDefinition, type ServiceDefinition } from "../scenarios/service/definition.js";
import { runChecksumRound, type ChecksumRoundResult } from "./service-checksum-round.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";

interface SweepFlags {
  nodes: string;
  key: string;
  service?: string;
  interval: string;
  silentAfter: string;
  restartCommand?: string;
  release?: string;
  reconcileMax: string;
  checksumEvery?: string;
  repair?: boolean;
  rounds?: string;
  db: string;
  store: boolean;
  json?: boolean;
}

const SEC_US = 1_000_000;
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A day: a longer interval or silence limit is a typo, not a schedule. */
const SWEEP_SECONDS_MAX = 86_400;

/** The restart command as argv, split with shell quoting but run without a shell; {node}, {host}, {port} are substituted per node. */
function parseRestartCommand(text: string | undefined): string[] | null {
  if (text === undefined) return null;
  const parsed = parseCommandLine(text);
  if (!parsed.ok) throw new UsageError(`--restart-command: ${parsed.error} (e.g. "ssh {host} systemctl restart testbed-agent")`);
  return parsed.argv;
}

function printRound(r: SweepRound, json: boolean, checksum: ChecksumRoundResult | null): void {
  if (json) return void console.log(JSON.stringify(checksum === null ? r : { ...r, checksum: checksum.json }));
  console.log(`${r.at} sweep: ${r.reporting} of ${r.nodes} watchdogs reporting, ${r.unreachable} unreachable, ${r.restarts.length} restarted`);
  for (const x of r.restarts) console.log(`  ${x.node}: ${x.ok ? "restarted" : "NOT RESTARTED"} (${x.reason}, ${x.how}): ${x.detail}`);
  for (const x of r.reconciles) console.log(`  ${x.node}: ${x.ok ? `brought to ${x.to}` : `NOT BROUGHT TO ${x.to}`}: ${x.detail}`);
  for (const line of checksum?.lines ?? []) console.log(`  checksum ${line}`);
}

/** Every how many rounds a checksum round runs (null: never); it needs the definition's files. */
function checksumEveryOf(f: SweepFlags, def: ServiceDefinition | null): number | null {
  if (f.checksumEvery === undefined) {
    if (f.repair === true) throw new UsageError("--repair: repairs follow a checksum round; add --checksum-every N");
    return null;
  }
  const every = parseWhole("--checksum-every", f.checksumEvery, 1, 1_000_000);
  if (def === null) throw new UsageError("--checksum-every: the sweep needs --service for the files to hash");
  if (def.checksumFiles.length === 0) throw new UsageError(`${def.file}: checksum: the definition names no files to hash`);
  return every;
}

/** --release (with --service, whose tarballs it installs) and --reconcile-max, or null. */
function wantedOf(f: SweepFlags, hasService: boolean): { version: string; reconcileMax: number } | null {
  const reconcileMax = parseWhole("--reconcile-max", f.reconcileMax, 1, RECONCILE_PER_ROUND_MAX);
  if (f.release === undefined) return null;
  if (!VERSION_PATTERN.test(f.release)) throw new UsageError(`--release: expected a label of letters, digits, . _ -, got "${f.release}"`);
  if (!hasService) throw new UsageError("--release: the sweep needs --service to put that version's tarballs in place");
  return { version: f.release, reconcileMax };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/**
 * The central sweep: every --interval, every agent's watchdog is checked; a node whose watchdog is
 * silent (or gave up) gets everything on it restarted, and with --release a node on another version
 * is brought to it (see real/agent/sweeper.ts); with --checksum-every N, every Nth round is also a
 * quorum checksum round (--repair mends the minority). Runs until a signal (a round in flight finishes
 * first), or for --rounds rounds. Exit 1 if a restart or a reconcile failed, or a checksum round left a minority or had no quorum.
 */
async function sweepCommand(f: SweepFlags): Promise<number> {
  let nodes;
  let key;
  try {
    nodes = readNodeFile(f.nodes);
    key = readKey(f.key);
  } catch (error) {
    if (error instanceof NodeFileError || error instanceof KeyError) throw new UsageError(error.message);
    throw error;
  }
  const def = f.service === undefined ? null : readServiceDefinition(f.service, nodes.map((n) => n.name));
  const intervalUs = parseWhole("--interval", f.interval, 1, SWEEP_SECONDS_MAX) * SEC_US;
  const silentAfterUs = parseWhole("--silent-after", f.silentAfter, 1, SWEEP_SECONDS_MAX) * SEC_US;
  const rounds = f.rounds === undefined ? Infinity : parseWhole("--rounds", f.rounds, 1, 1_000_000);
  const restartCommand = parseRestartCommand(f.restartCommand);
  const wanted = wantedOf(f, def !== null);
  const checksumEvery = checksumEveryOf(f, def);
  const service = def?.name ?? "default";
  // The store is opened and checked before the first round: a --db that is not a store costs no restarts unrecorded.
  if (f.store) openServiceStore(f.db).close();
  const c = new Controller(nodes, key, def);
  const sweeper = new SweepController(c, nodes, { intervalUs, silentAfterUs, restartCommand, wanted });
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
  let failed = 0;
  try {
    for (let done = 0; done < rounds && !stop.signal.aborted; ) {
      const wait = Math.ceil((sweeper.nextRoundUs() - sweeper.now()) / 1000);
      if (wait > 0) {
        await pause(wait, stop.signal);
        continue;
      }
      const r = await sweeper.round();
      done++;
      failed += r.restarts.filter((x) => !x.ok).length + r.reconciles.filter((x) => !x.ok).length;
      // Quorum checksums on the sweep's schedule: a minority left or no quorum fails the sweep.
      const checksum = checksumEvery !== null && done % checksumEvery === 0 ? await runChecksumRound(c, { service, repair: f.repair === true, db: f.store ? f.db : null }) : null;
      if (checksum !== null && !checksum.ok) failed++;
      if (f.store && r.restarts.length + r.reconciles.length > 0) {
        const store = openServiceStore(f.db);
        try {
          store.saveRestarts(r.restarts.map((x) => ({ service, node: x.node, at: r.at, reason: x.reason, how: x.how, ok: x.ok, detail: x.detail })));
          store.saveReconciles(r.reconciles.map((x) => ({ service, node: x.node, at: r.at, from: x.from, to: x.to, ok: x.ok, detail: x.detail })));
        } finally {
          store.close();
        }
      }
      printRound(r, f.json === true, checksum);
    }
    if (stop.signal.aborted) console.error(`testbed: sweep stopped after ${sweeper.rounds} rounds`);
    return failed === 0 ? 0 : 1;
  } finally {
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, onSignal);
    c.close();
  }
}

export function registerServiceSweep(service: Command): void {
  service
    .command("sweep")
    .description("the central sweep: check every watchdog on a schedule; restart everything on a node whose watchdog is silent or gave up")
    .requiredOption("--nodes <file>", "one `NAME HOST:PORT` a line")
    .requiredOption("--key <file>", "the operator's shared secret")
    .option("--service <file>", "the service definition (JSON): its name in the store, and what --release installs")
    .option("--interval <s>", "seconds between rounds", "300")
    .option("--silent-after <s>", "a watchdog silent this long (seconds) gets its node restarted", "300")
    .option("--restart-command <argv>", "run for a node whose agent does not answer: words split as a shell would (quotes, backslashes), but no shell runs it; {node} {host} {port} substituted")
    .option("--release <label>", "the version every node should run: a node on another one (or none) is brought to it (needs --service)")
    .option("--reconcile-max <n>", "nodes brought to --release per round at most", "1")
    .option("--checksum-every <n>", "every N rounds, also hash the definition's checksum files on every node; the majority decides (needs --service)")
    .option("--repair", "with --checksum-every: copy each decided file from a majority node to the minority")
    .option("--rounds <n>", "stop after N rounds (default: until a signal)")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--no-store", "do not record the restarts in the store")
    .option("--json", "print one JSON line per round")
    .addHelpText("after", '\nExample:\n  testbed service sweep --nodes nodes.txt --key operator.key --restart-command "ssh {host} systemctl restart testbed-agent"')
    .action((f: SweepFlags) => runAsync(() => sweepCommand(f)));
}
