import type { Command } from "commander";
import { interruptAsAbort, SIGNAL_EXIT } from "./interrupt-abort.js";
import { RELEASED, type SwapMachine } from "../core/experiment/index.js";
import { DEFAULT_STORE_PATH } from "../real/store/index.js";
import { runSwap, type RealSwapRunner, type SwapAction, type SwapResult } from "../scenarios/experiment/swap.js";
import { parseWhole, UsageError } from "./errors.js";
import { withStoreAsync } from "./experiment-command.js";
import { formatSwapResult } from "./experiment-format.js";
import { progressBar } from "./progress.js";


interface SwapFlags {
  sim?: boolean;
  seed?: string;
  speed?: string;
  heartbeat?: string;
  db: string;
  json?: boolean;
}

/**
 * The real world's flags, the same wherever a real swap can start (`exp swapin|swapout`, `serve`):
 * bin/experiment-command.ts's realRunner reads them.
 */
export function addRealNodeOptions(cmd: Command): Command {
  return cmd
    .option("--nodes-dir <dir>", "real: where local nodes keep their disks and logs (a folder per node)", "./testbed-nodes")
    .option("--nodes-file <file>", "real: machines to use, one per line: name address [folder] (default: local nodes on loopback addresses)")
    .option("--exec <prefix>", "real: how to run a command on a node, e.g. 'ssh {address} --' (default: on this machine)")
    .option("--tmcd <host:port>", "real: a running node-configuration server (default: one in this process for the swap)")
    .option("--server-address <addr>", "real: this machine's address the nodes reach; its image and node-configuration servers use it (e.g. a bridge's, for nodes in network namespaces)", "127.0.0.1")
    .option("--sync-port <port>", "real: the sync server's port on its node", "16534")
    .option("--port-base <port>", "real: UDP port of the first image server (the others follow)", "7700")
    .option("--bandwidth <rate>", "real: image servers' rate", "500Mbit");
}

/** `exp swapin` and `exp swapout`, in the simulator (--sim) or on real nodes (`real` wires them). */
export function registerSwapCommands(exp: Command, real: (flags: Record<string, unknown>) => RealSwapRunner): void {
  for (const action of ["swapin", "swapout"] as const) {
    const cmd = exp
      .command(action)
      .description(action === "swapin" ? "swap an experiment in: load its nodes over Frisbee, boot them, set them up and pass the boot barrier" : "swap an experiment out: save disk state where asked, then release its nodes")
      .argument("<name>", "experiment name")
      .option("--sim", "in the simulator (any number of nodes, the file's loss, crash and disk models)")
      .option("--seed <n>", "simulator seed (default: a random one, printed)")
      .option("--speed <x>", "simulator: simulated seconds per wall second, to watch it live (default: as fast as possible)")
      .option("--heartbeat <s>", "progress report interval for this swap, overriding the site variable images/frisbee/heartbeat");
    addRealNodeOptions(cmd)
      .option("--db <path>", "store file", DEFAULT_STORE_PATH)
      .option("--json", "print the outcome as one JSON object");
    cmd.addHelpText("after", `\nExamples:\n  testbed exp ${action} sim-1000 --sim --seed 1\n  testbed exp ${action} exp-4 --nodes-dir ./nodes`);
    cmd.action(async (name: string, f: SwapFlags & Record<string, unknown>) => {
      process.exitCode = await swapCommand(name, action, f, f.sim === true ? undefined : real(f));
    });
  }
}

async function swapCommand(name: string, action: SwapAction, f: SwapFlags, real: RealSwapRunner | undefined): Promise<number> {
  const world = f.sim === true ? "sim" : "real";
  if (world === "real" && (f.speed !== undefined || f.seed !== undefined)) throw new UsageError("--seed and --speed are the simulator's: add --sim");
  const seed = f.seed === undefined ? undefined : parseWhole("--seed", f.seed, 0);
  const speed = f.speed === undefined ? undefined : positive("--speed", f.speed);
  const heartbeatSec = f.heartbeat === undefined ? undefined : parseWhole("--heartbeat", f.heartbeat, 0, 3_600);
  const bar = progressBar(`${action} ${name}`);
  // A signal ends the swap at the next step: stored as failed with the reason, the store closed, exit 128 + signal.
  const interrupted = interruptAsAbort();
  let result: SwapResult;
  try {
    result = await withStoreAsync(f.db, (store) =>
      runSwap({
          store,
          name,
          action,
          world,
          ...(seed === undefined ? {} : { seed }),
          ...(speed === undefined ? {} : { speed }),
          ...(heartbeatSec === undefined ? {} : { heartbeatSec }),
          ...(real === undefined ? {} : { real }),
          onTick: (m, clockUs) => bar.update(fraction(m), note(m, clockUs)),
          cancelled: () => (interrupted.by === null ? null : `interrupted by ${interrupted.by}`),
        }),
      // A swap needs a recorded experiment: a --db that names no store is refused, never created.
      { mustExist: true },
    );
  } finally {
    bar.done();
    interrupted.off();
  }
  if (f.json) console.log(JSON.stringify(result));
  else console.log(formatSwapResult(result, f.db));
  return interrupted.by !== null ? SIGNAL_EXIT[interrupted.by] : result.ok ? 0 : 1;
}

function positive(flag: string, text: string): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v <= 0 || v > 1e6) throw new UsageError(`${flag}: expected a number above 0, got "${text}"`);
  return v;
}

function fraction(m: SwapMachine): number {
  const b = m.barrier;
  if (m.kind === "swapin") return b.total === 0 ? 1 : b.ready / b.total;
  const released = m.nodes.phase.reduce((n, p) => n + (p === RELEASED ? 1 : 0), 0);
  return released / m.nodes.count;
}

function note(m: SwapMachine, clockUs: number): string {
  const left = m.secondsLeft();
  return `ready ${m.barrier.ready}/${m.barrier.total}${left === null ? "" : ` ~${left.toFixed(0)} s left`} (clock ${(clockUs / 1e6).toFixed(1)} s)`;
}
