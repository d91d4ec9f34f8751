import type { Command } from "commander";
import type { EngineBenchOptions } from "../sim/bench/engine-bench.js";
import { DEFAULT_STORE_PATH } from "../real/store/default-path.js";
import { parseWhole } from "./errors.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import type { PlanFlags } from "./plan-command.js";

/*
 * The commands that were once written in bin/testbed.ts: `sim`, `bench engine`, `plan frisbee` and
 * `runs`, each a registrar of its own in bin/program.ts. The code behind each is imported when it
 * runs, so building one of them loads neither the simulator nor the store (issue 12).
 */

/** `testbed sim <scenario>`. */
export function registerSim(program: Command): void {
  program
    .command("sim")
    .description("run a scenario in the simulated world and check its invariants")
    .argument("<scenario>", "scenario file (JSON)")
    .option("--seed <n>", "seed (default: the scenario's, else a random one, printed first)")
    .option("--json", "print one JSON object")
    .option("--check-determinism", "run twice and fail if the trace fingerprints differ")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--no-store", "do not record the run in the store")
    .option("--vary <path=range>", "draw a field from a range by the seed, as testbed sweep does (repeatable)", (v: string, all: string[]) => [...all, v], [])
    .addHelpText("after", "\nExample:\n  testbed sim scenarios/examples/partition-heal.json --seed 42 --json --check-determinism")
    .action((file: string, o: { seed?: string; json?: boolean; checkDeterminism?: boolean; db: string; store: boolean; vary: string[] }) => {
      const options = {
        ...(o.seed === undefined ? {} : { seed: parseWhole("--seed", o.seed, 0) }),
        json: o.json === true,
        checkDeterminism: o.checkDeterminism === true,
        db: o.db,
        store: o.store,
        vary: o.vary,
      };
      void runAsync(async () => (await import("./sim-command.js")).simCommand(file, options));
    });
}

/** `testbed bench engine`. */
export function registerBenchEngine(bench: Command): void {
  bench
    .command("engine")
    .description("event engine dispatch rate against a bare typed-array heap doing the same pushes and pops")
    .option("--pending <n>", "events pending at once", "100000")
    .option("--events <n>", "events to execute", "3000000")
    .option("--rounds <n>", "timed rounds of each; the best counts", "3")
    .option("--seed <n>", "seed for the delays", "1")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed bench engine --pending 100000 --events 3000000 --json")
    .action((o: { pending: string; events: string; rounds: string; seed: string; json?: boolean }) => {
      const input = {
        pendingEvents: parseWhole("--pending", o.pending, 1, 10_000_000),
        events: parseWhole("--events", o.events, 1, 1e10),
        rounds: parseWhole("--rounds", o.rounds, 1, 100),
        seed: parseWhole("--seed", o.seed, 0),
      };
      void runAsync(() => benchEngine(input, o.json === true));
    });
}

/** `testbed plan frisbee`. */
export function registerPlanFrisbee(plan: Command): void {
  plan
    .command("frisbee")
    .description("imaging time for lists of client counts and loss rates, in the packet-level simulator or, for thousands of clients, the chunk-level model")
    .option("--clients <list>", "client counts", "1,10,40")
    .option("--image-mib <n>", "compressed image size, MiB", "64")
    .option("--data-mib <n>", "data written to disk (uncompressed), MiB", "192")
    .option("--client-mbps <n>", "client link speed, Mbit/s", "100")
    .option("--server-mbps <n>", "server bandwidth target, Mbit/s", "72")
    .option("--burst <n>", "server burst size, packets (with --gap-us, instead of --server-mbps)")
    .option("--gap-us <n>", "server burst gap, microseconds")
    .option("--disk-mibs <n>", "client disk write speed, MiB/s", "60")
    .option("--inflate-mibs <n>", "client decompression speed, MiB/s of output", "120")
    .option("--loss <list>", "loss rates", "0")
    .option("--loss-at <where>", "server (every client loses the same packet) or receivers (independently)", "receivers")
    .option("--start <pattern>", "simultaneous, clustered:K:S or uniform:S", "simultaneous")
    .option("--model <model>", "packet, chunk or auto", "auto")
    .option("--heartbeat <s>", "client progress report interval, seconds", "10")
    .option("--seed <n>", "seed", "1")
    .option("--runs <n>", "runs per row, on seeds seed, seed+1, ...; the row combines them", "1")
    .option("--server-queue", "chunk model: requests pass the server link's queue, which drops most of a herd of idle requests (closer to the packet model beyond a few hundred clients, slower)")
    .option("--svg <path>", "where to write the chart", "frisbee-plan.svg")
    .option("--queue <url>", "run the cells (row x seed) as jobs on Redis (redis://host:port) for testbed workers; same rows and table")
    .option("--shard <K/N>", "run only the K-th of N slices of the cells, here (needs --out; join them with testbed sweep merge)")
    .option("--out <file>", "where a shard's cells are written")
    .option("--concurrency <n>", "threads for a shard's cells (default: every core)")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--no-store", "do not record the rows in the store")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed plan frisbee --clients 1,10,100 --image-mib 64 --data-mib 192 --loss 0,0.01 --loss-at server --json")
    .action((o: PlanFlags) => {
      void runAsync(async () => (await import("./plan-command.js")).planFrisbeeCommand(o));
    });
}

/** `testbed runs`. */
export function registerRuns(program: Command): void {
  program
    .command("runs")
    .description("list runs recorded in the store, newest first")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--limit <n>", "how many", "20")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed runs --limit 5")
    .action((o: { db: string; limit: string; json?: boolean }) => {
      const limit = parseWhole("--limit", o.limit, 1, 10_000);
      void runAsync(async () => {
        const { openStore } = await import("../real/store/index.js");
        // Only reads: a --db that names no store is refused, never created.
        const store = openStore(o.db, { mustExist: true });
        try {
          const runs = store.listRuns({ limit });
          if (o.json) console.log(JSON.stringify({ runs }));
          else {
            for (const r of runs) {
              console.log(`${String(r.id).padStart(5)}  ${r.createdAt}  ${r.ok ? "ok  " : "FAIL"}  seed ${r.seed}  trace ${r.fingerprint}  ${r.scenario}`);
            }
            if (runs.length === 0) console.log(`no runs in ${o.db}`);
          }
        } finally {
          store.close();
        }
      });
    });
}

/** `testbed bench engine`, on a worker thread so that Ctrl-C stops it at once. */
async function benchEngine(input: EngineBenchOptions, json: boolean): Promise<void> {
  exitCleanlyOnInterrupt();
  const { runJob } = await import("./run-job.js");
  const result = await runJob("benchEngine", input);
  if (json) console.log(JSON.stringify(result));
  else {
    console.log(`engine:    ${result.eventsPerSec.toLocaleString("en-US")} events/s`);
    console.log(`bare heap: ${result.bareHeapEventsPerSec.toLocaleString("en-US")} events/s`);
    console.log(`ratio:     ${result.ratio} (engine / bare heap; ${result.pendingEvents} pending, ${result.events} events, best of ${result.rounds})`);
  }
}
