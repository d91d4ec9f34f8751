import { Command } from "commander";

/*
 * The program's commands, loaded lazily: `testbed <name> ...` imports only the modules of the
 * registrars that add `name` (a top-level command or a group such as `bench`), and `testbed
 * --version` none. Loading every command's modules was most of a small command's time (issue 12;
 * README, "Images"). Anything else (no command, `--help`, `help`, an unknown name, which
 * commander answers with a suggestion among all names) builds the whole program.
 * test/bin/lean-start.test.ts checks that every name's lean program holds the same command, with
 * the same subcommands, options and help, as the whole program.
 */

/** Where a registrar adds its commands. The groups are made on first use, in registration order. */
export interface Parents {
  readonly program: Command;
  readonly bench: Command;
  readonly plan: Command;
}

interface Registrar {
  /** The top-level commands (and their aliases) and groups it adds to. */
  readonly names: readonly string[];
  /** Imports its modules; the function returned registers its commands. */
  readonly load: () => Promise<(parents: Parents) => void>;
}

/**
 * In the order of `testbed --help`. A new command module is added here with every name it
 * registers under; the test fails otherwise.
 */
const REGISTRARS: readonly Registrar[] = [
  lazy(["sim"], () => import("./core-commands.js"), (m, p) => m.registerSim(p.program)),
  lazy(["bench"], () => import("./core-commands.js"), (m, p) => m.registerBenchEngine(p.bench)),
  lazy(["plan"], () => import("./core-commands.js"), (m, p) => m.registerPlanFrisbee(p.plan)),
  lazy(["runs"], () => import("./core-commands.js"), (m, p) => m.registerRuns(p.program)),
  lazy(["frisbeed", "frisbee", "bench"], () => import("./frisbee-real-command.js"), (m, p) => m.registerFrisbeeRealCommands(p.program, p)),
  // Disk state adds `image sig` and `image delta` to the image commands: one registrar.
  lazy(
    ["image", "swapout-node", "swapin-node", "bench"],
    () => Promise.all([import("./image-command.js"), import("./disk-state-command.js")]),
    ([images, diskState], p) => {
      images.registerImageCommands(p.program, p);
      diskState.registerDiskStateCommands(p.program, p);
    },
  ),
  lazy(["plan", "monitor"], () => import("./monitor-command.js"), (m, p) => m.registerMonitorCommands(p.program, p)),
  lazy(["plan", "bench", "agent", "service"], () => import("./service-command.js"), (m, p) => m.registerServiceCommands(p.program, p)),
  lazy(["plan"], () => import("./swap-plan-command.js"), (m, p) => m.registerSwapPlanCommand(p.plan)),
  lazy(["bench", "syncd", "sync", "syncserver"], () => import("./sync-command.js"), (m, p) => m.registerSyncCommands(p.program, p)),
  lazy(["experiment", "exp", "sitevar", "nodeconfig", "tmcc", "serve"], () => import("./experiment-command.js"), (m, p) => m.registerExperimentCommands(p.program)),
  lazy(["sweep", "worker", "bench"], () => import("./sweep-command.js"), (m, p) => m.registerSweepCommands(p.program, p)),
  lazy(["bench"], () => import("./swap-bench-command.js"), (m, p) => m.registerSwapBenchCommand(p.bench)),
];

function lazy<M>(names: readonly string[], load: () => Promise<M>, register: (module: M, parents: Parents) => void): Registrar {
  return {
    names,
    load: async () => {
      const module = await load();
      return (parents) => register(module, parents);
    },
  };
}

/** Every name some registrar adds: `testbed <name>` builds a lean program. */
export const LEAN_NAMES: ReadonlySet<string> = new Set(REGISTRARS.flatMap((r) => r.names));

/**
 * The registrars `testbed ...argv` needs: none for `--version` alone, those naming the command,
 * or every one (null) when the command is not a known name.
 */
function registrarsFor(argv: readonly string[]): readonly Registrar[] {
  const first = argv[2];
  if (argv.length === 3 && (first === "-V" || first === "--version")) return [];
  if (first !== undefined && LEAN_NAMES.has(first)) return REGISTRARS.filter((r) => r.names.includes(first));
  return REGISTRARS;
}

/** The program for `argv` (process.argv's shape: node, script, arguments). */
export async function buildProgram(argv: readonly string[], version: string): Promise<Command> {
  const program = new Command("testbed")
    .description("Simulation-first testbed emulator: control-plane machines written once, run in a seeded simulated world or on real machines.")
    .version(version, "-V, --version")
    .exitOverride()
    // One line, the hint included: a second line would break the one-line rule scripts rely on.
    .configureOutput({ outputError: (text, write) => write(`testbed: ${text.replace(/^error: /, "").trim().replace(/\s*\n\s*/g, "; ")} (see --help)\n`) });
  const registers = await Promise.all(registrarsFor(argv).map((r) => r.load()));
  const parents = parentsOf(program);
  for (const register of registers) register(parents);
  return program;
}

function parentsOf(program: Command): Parents {
  let bench: Command | undefined;
  let plan: Command | undefined;
  return {
    program,
    get bench() {
      return (bench ??= program.command("bench").description("benchmarks that print figures"));
    },
    get plan() {
      return (plan ??= program.command("plan").description("capacity plans: sweep a mechanism over sizes and print what the model predicts"));
    },
  };
}
