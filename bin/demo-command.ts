import type { Command } from "commander";
import type { SwapMachine } from "../core/experiment/index.js";
import { DEFAULT_STORE_PATH } from "../real/store/index.js";
import { parseExperiment } from "../scenarios/experiment/schema.js";
import { runSwap, type SwapResult } from "../scenarios/experiment/swap.js";
import { experimentTemplate } from "../scenarios/experiment/template.js";
import { parseWhole } from "./errors.js";
import { withStore, withStoreAsync } from "./experiment-command.js";
import { formatSwapResult } from "./experiment-format.js";
import { progressBar } from "./progress.js";
import { PORTAL_PORT } from "./serve-command.js";

/** The flagship's heartbeat: nodes report every 2 s, so progress and time left move on the way. */
const DEMO_HEARTBEAT_SEC = 2;

/**
 * `testbed exp demo` (what `npm start` runs): a simulated 1,000-node experiment swapped in, with
 * Frisbee loading at 1% loss and heartbeats, crashes during loads, the setup pool with flaky nodes
 * and a bad one replaced by a spare, and the boot barrier; progress on the terminal, the summary
 * table at the end, everything in the store, and the line that opens it in the portal.
 */
export function registerDemoCommand(exp: Command): void {
  exp
    .command("demo")
    .description("the flagship: swap in a simulated 1,000-node experiment and show what happened (npm start)")
    .option("--nodes <n>", "nodes", "1000")
    .option("--seed <n>", "seed", "1")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .addHelpText("after", "\nExample:\n  testbed exp demo --nodes 1000 --seed 1")
    .action(async (o: { nodes: string; seed: string; db: string }) => {
      const nodes = parseWhole("--nodes", o.nodes, 1, 100_000);
      const seed = parseWhole("--seed", o.seed, 0);
      console.log(`seed: ${seed}`);
      const name = prepare(o.db, nodes);
      const result = await swapIn(o.db, name, seed);
      console.log(formatSwapResult(result, o.db));
      console.log(`open it in the portal: npx testbed serve --db ${o.db}   then http://127.0.0.1:${PORTAL_PORT}/#/exp/${name}`);
      process.exitCode = result.ok ? 0 : 1;
    });
}

/** The demo's experiment in the store, created from the template, swapped out if a former demo left it in. */
function prepare(db: string, nodes: number): string {
  const spec = parseExperiment(JSON.stringify(experimentTemplate({ nodes, sim: true, name: `demo-${nodes}` })), "template");
  return withStore(db, (store) => {
    const row = store.experiment(spec.name);
    if (row === undefined) {
      store.createFromSpec(spec);
      console.log(`created experiment ${spec.name}: ${nodes} simulated nodes, ${spec.sim?.flakyNodes ?? 0} flaky, ${spec.sim?.badNodes ?? 0} bad, ${spec.sim?.crashNodes ?? 0} crashing while loading, ${spec.spares} spares`);
    } else if (row.state === "active") {
      console.log(`${spec.name} is active from an earlier run: swapping it out first`);
    }
    return spec.name;
  });
}

async function swapIn(db: string, name: string, seed: number): Promise<SwapResult> {
  const active = withStore(db, (store) => store.experiment(name)?.state === "active");
  if (active) await withStoreAsync(db, (store) => runSwap({ store, name, action: "swapout", world: "sim", seed }));
  const bar = progressBar(`swapin ${name}`);
  const said = new Set<string>();
  const say = (key: string, line: string): void => {
    if (said.has(key)) return;
    said.add(key);
    bar.done();
    console.log(line);
  };
  try {
    return await withStoreAsync(db, (store) =>
      runSwap({
        store,
        name,
        action: "swapin",
        world: "sim",
        seed,
        heartbeatSec: DEMO_HEARTBEAT_SEC,
        onTick: (m, clockUs) => {
          milestones(m, clockUs, say);
          bar.update(m.barrier.total === 0 ? 1 : m.barrier.ready / m.barrier.total, `ready ${m.barrier.ready}/${m.barrier.total} (clock ${(clockUs / 1e6).toFixed(0)} s)`);
        },
      }),
    );
  } finally {
    bar.done();
  }
}

/** One line per milestone as the swap passes it, so a log without a terminal shows progress too. */
function milestones(m: SwapMachine, clockUs: number, say: (key: string, line: string) => void): void {
  const at = `${(clockUs / 1e6).toFixed(1).padStart(7)} s`;
  const s = m.summary();
  const loaded = s.phases.load.nodes;
  if (loaded > 0) {
    // The servers' estimate exists only once a node has reported progress; no placeholder without it.
    const left = m.loadSecondsLeft();
    say("first", `${at}  first nodes loaded${left === null ? "" : `; the image servers expect the rest within ${left} s`}`);
  }
  if (loaded >= m.nodes.count / 2) say("half", `${at}  half the nodes loaded (${s.reports} progress reports so far)`);
  if (s.milestones.allLoadedSec !== null && loaded >= m.barrier.total) say("loaded", `${at}  every node loaded (load retries ${s.retries.load})`);
  if (m.barrier.ready >= m.barrier.total / 2 && m.barrier.ready < m.barrier.total) say("ready-half", `${at}  boot barrier: ${m.barrier.ready}/${m.barrier.total} ready; setup pool retried ${s.retries.setup}`);
  if (s.milestones.barrierSec !== null) say("barrier", `${at}  boot barrier passed: ${m.barrier.ready}/${m.barrier.total} ready, ${s.replaced} node${s.replaced === 1 ? "" : "s"} replaced by spares`);
}
