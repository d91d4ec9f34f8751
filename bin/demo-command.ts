import type { Command } from "commander";
import type { SwapMachine } from "../core/experiment/index.js";
import { DEFAULT_STORE_PATH } from "../real/store/index.js";
import { parseExperiment } from "../scenarios/experiment/schema.js";
import { runSwap, type SwapResult } from "../scenarios/experiment/swap.js";
import { experimentTemplate } from "../scenarios/experiment/template.js";
import { parseWhole } from "./errors.js";
import { withStore, withStoreAsync } from "./experiment-command.js";
import { formatSwapResult } from "./experiment-format.js";
import { interruptAsAbort, SIGNAL_EXIT } from "./interrupt-abort.js";
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
      // Ctrl-C ends the swap as exp swapin's does: failed, with the reason, stored and its store closed.
      const interrupted = interruptAsAbort();
      try {
        const name = prepare(o.db, nodes);
        const result = await swapIn(o.db, name, seed, () => (interrupted.by === null ? null : `interrupted by ${interrupted.by}`));
        console.log(formatSwapResult(result, o.db));
        console.log(`open it in the portal: npx testbed serve --db ${o.db}   then http://127.0.0.1:${PORTAL_PORT}/#/exp/${name}`);
        // Interrupted: the swap is stored as failed with the reason, and the exit says the signal, as every command's does.
        process.exitCode = interrupted.by !== null ? SIGNAL_EXIT[interrupted.by] : result.ok ? 0 : 1;
      } finally {
        interrupted.off();
      }
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

async function swapIn(db: string, name: string, seed: number, cancelled: () => string | null): Promise<SwapResult> {
  const active = withStore(db, (store) => store.experiment(name)?.state === "active");
  if (active) await withStoreAsync(db, (store) => runSwap({ store, name, action: "swapout", world: "sim", seed, cancelled }));
  const bar = progressBar(`swapin ${name}`);
  const said = new Set<string>();
  try {
    return await withStoreAsync(db, (store) =>
      runSwap({
        store,
        name,
        action: "swapin",
        world: "sim",
        seed,
        heartbeatSec: DEMO_HEARTBEAT_SEC,
        cancelled,
        onTick: (m, clockUs) => {
          for (const line of milestones(m, said)) {
            bar.done();
            console.log(line);
          }
          bar.update(m.barrier.total === 0 ? 1 : m.barrier.ready / m.barrier.total, `ready ${m.barrier.ready}/${m.barrier.total} (clock ${(clockUs / 1e6).toFixed(0)} s)`);
        },
      }),
    );
  } finally {
    bar.done();
  }
}

/**
 * One line per milestone the swap has passed and `said` does not hold yet (added to it), so a log
 * without a terminal shows progress too. Each line carries the time the swap reached it (from the
 * machine's per-node times), not the time of the tick that noticed it: ticks come every few
 * simulated seconds, or a whole small swap in one. A milestone is known from the moment it is
 * reached, so sorting each tick's new ones keeps every line in time order.
 */
export function milestones(m: SwapMachine, said: Set<string>): string[] {
  const found: { key: string; sec: number; text: string }[] = [];
  const add = (key: string, sec: number | null, text: () => string): void => {
    if (sec !== null && !said.has(key)) found.push({ key, sec, text: text() });
  };
  const n = m.nodes.count;
  const b = m.barrier;
  const s = m.summary();
  add("first", m.nthDoneSec("loaded", 1), () => `first node loaded${estimate(m.loadSecondsLeft())}`);
  add("half", m.nthDoneSec("loaded", Math.ceil(n / 2)), () => "half the nodes loaded");
  add("loaded", m.nthDoneSec("loaded", n), () => `every node loaded (load retries ${s.retries.load})`);
  // A node replaced after "every node loaded" was said: said too, so the lines tell the whole story.
  m.replacements.forEach((r, i) => add(`replaced-${i}`, m.secondsIn(r.atUs), () => `${r.node} given to a spare: ${r.why}; it loads again`));
  if (b.total > 1) add("ready-half", m.nthDoneSec("ready", Math.ceil(b.total / 2)), () => `boot barrier: half of ${b.total} nodes ready`);
  add("barrier", s.milestones.barrierSec, () => `boot barrier passed: ${b.ready}/${b.total} ready, ${s.replaced} node${s.replaced === 1 ? "" : "s"} replaced by spares; setup pool retried ${s.retries.setup}`);
  found.sort((x, y) => x.sec - y.sec);
  return found.map((f) => {
    said.add(f.key);
    return `${f.sec.toFixed(1).padStart(7)} s  ${f.text}`;
  });
}

function estimate(secondsLeft: number | null): string {
  return secondsLeft === null ? "" : `; the image servers expect the rest within ${secondsLeft} s`;
}
