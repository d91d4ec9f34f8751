import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { runSwapBench, type SwapFigures } from "../scenarios/experiment/bench.js";
import { parseWhole, UsageError } from "./errors.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";

/** `testbed bench swap`: a simulated swap-in of thousands of nodes, with a smaller one as the baseline. */
export function registerSwapBenchCommand(bench: Command): void {
  bench
    .command("swap")
    .description("simulated swap-in of N nodes (1% loss, flaky, bad and crashing nodes): wall time, memory, per-phase times, the chunk model's prediction of the load, a smaller swap as the baseline")
    .option("--nodes <n>", "nodes", "5000")
    .option("--baseline <n>", "nodes of the baseline swap run first", "500")
    .option("--seed <n>", "seed", "1")
    .option("--progress", "every 30 s, say on stderr how far the swap has got (for long runs)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed bench swap --nodes 5000 --baseline 500 --json")
    .action(async (f: { nodes: string; baseline: string; seed: string; progress?: boolean; json?: boolean }) => {
      const nodes = parseWhole("--nodes", f.nodes, 1, 100_000);
      const baselineNodes = parseWhole("--baseline", f.baseline, 1, 100_000);
      if (baselineNodes > nodes) throw new UsageError("--baseline: at most --nodes");
      exitCleanlyOnInterrupt();
      const r = await runSwapBench({ nodes, baselineNodes, seed: parseWhole("--seed", f.seed, 0), ...(f.progress === true ? { progress: (line: string) => console.error(line) } : {}) });
      if (f.json) {
        console.log(JSON.stringify(r));
      } else {
        console.log(`swap-in of ${r.swap.nodes} simulated nodes (seed ${r.seed}):`);
        for (const line of figures(r.swap)) console.log(`  ${line}`);
        console.log(`  memory: peak RSS ${r.rssPeakMiB} MiB, heap in use after ${r.heapUsedMiB} MiB`);
        console.log(`  chunk model predicts the load takes ${r.predicted.loadSec} s (computed in ${r.predicted.wallSeconds} s); slowest simulated node's load / predicted = ${r.loadOverPredicted ?? "-"}`);
        console.log(`baseline: swap-in of ${r.baseline.nodes} nodes:`);
        for (const line of figures(r.baseline)) console.log(`  ${line}`);
        console.log(`per node, ${r.swap.nodes} over ${r.baseline.nodes}: wall seconds ${r.wallPerNodeRatio}, CPU seconds ${r.cpuPerNodeRatio} (1 = linear growth)`);
      }
      process.exitCode = r.swap.ok && r.baseline.ok ? 0 : 1;
    });
}

function figures(s: SwapFigures): string[] {
  const p = s.phases;
  return [
    `${s.ok ? "active" : "FAILED"} after ${s.simSeconds} simulated s in ${s.wallSeconds} wall s, ${s.cpuSeconds} CPU s (${s.events.toLocaleString("en-US")} events, ${s.eventsPerSec.toLocaleString("en-US")}/s)`,
    `every node loaded at ${s.allLoadedSec ?? "-"} s, booted at ${s.allBootedSec ?? "-"} s, boot barrier passed at ${s.barrierSec ?? "-"} s`,
    `per node: load mean ${p.load.meanSec} s / max ${p.load.maxSec} s, boot ${p.boot.meanSec} / ${p.boot.maxSec} s, setup ${p.setup.meanSec} / ${p.setup.maxSec} s`,
    `retries: load ${s.retries.load}, boot ${s.retries.boot}, setup ${s.retries.setup}; replaced by spares ${s.replaced}; trace ${s.fingerprint}`,
    `load average (1 min) ${s.loadAverage.start} at the start, ${s.loadAverage.end} at the end (${availableParallelism()} cores)`,
  ];
}
