import { availableParallelism, loadavg } from "node:os";
import { formatSeconds } from "../../scenarios/units.js";

/**
 * The README's figures that the code can reproduce, each block made from the commands it shows.
 * `npm run readme` writes them between `<!-- generated:ID -->` and `<!-- /generated:ID -->`;
 * test/readme.test.ts runs the quick ones and fails when the README no longer says what the
 * commands print. Wall-clock figures are marked with † and never compared: they are the machine's.
 */
export interface ReadmeBlock {
  id: string;
  /** Too slow for every test run (a minute or more): checked by `npm run readme` only. */
  slowOnly?: true;
  /** Tens of minutes of CPU: run only with README_HEAVY=1 (check or update). */
  heavy?: true;
  /** The block's text from fresh runs. Quick: only what is cheap enough for every test run. */
  render(run: Runner, quick: boolean): Promise<string>;
}

/**
 * Runs `testbed ARGS` in a scratch folder holding a copy of scenarios/ and returns its stdout;
 * `write` puts a file in that folder (a variant of a shipped scenario).
 */
export interface Runner {
  (args: readonly string[]): Promise<string>;
  write(path: string, text: string): void;
  read(path: string): string;
}

export const WALL_MARK = "†";
/** The note under a block with wall-clock figures: when and under what load they were taken. */
function wallNote(): string {
  const load = loadavg()[0] ?? 0;
  const day = new Date().toISOString().slice(0, 10);
  return (
    `${WALL_MARK} wall-clock figures of the machine that generated this block (\`npm run readme\`, ${day}, ` +
    `${availableParallelism()} cores, load average ${load.toFixed(1)}): they vary and are not checked. ` +
    "Every other figure is the same on any machine, and `test/readme/readme.test.ts` checks it."
  );
}

const n = (v: number): string => v.toLocaleString("en-US");
const json = async <T>(run: Runner, args: readonly string[]): Promise<T> => JSON.parse(await run(args)) as T;

function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]): string => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * Blanks what varies between runs: table columns whose header carries the mark, the note on
 * them (a line starting with the mark), and the `wall:` figures of `testbed sim`'s text output.
 */
export function maskWallClock(text: string): string {
  let wallColumns: number[] = [];
  return text
    .split("\n")
    .map((line) => {
      if (line.startsWith(WALL_MARK)) return `${WALL_MARK} …`;
      if (!line.startsWith("|")) {
        wallColumns = [];
        return line.replace(/wall: \S+ +\(\d+ events\/s\)/g, "wall: … (… events/s)").replace(/wall: [\d.]+ s\b/g, "wall: … s");
      }
      const cells = line.split("|");
      if (wallColumns.length === 0 && cells.some((c) => c.includes(WALL_MARK))) {
        wallColumns = cells.flatMap((c, i) => (c.includes(WALL_MARK) ? [i] : []));
        return line;
      }
      if (/^\|( *-+ *\|)+$/.test(line)) return line;
      return cells.map((c, i) => (wallColumns.includes(i) ? " … " : c)).join("|");
    })
    .join("\n");
}

interface SimJson {
  traceHash: string;
  events: number;
  simSeconds: number;
  wallSeconds: number;
  eventsPerSec: number;
  stats: { hosts: number; delivered: number };
}

const EXAMPLES = ["lossy-multicast", "many-hosts", "partition-heal"];

const simSample: ReadmeBlock = {
  id: "sim-sample",
  async render(run) {
    const command = ["sim", "scenarios/examples/partition-heal.json", "--seed", "3"];
    return ["```sh", `$ npx testbed ${command.join(" ")}`, (await run(command)).trimEnd(), "```"].join("\n");
  },
};

const exampleScenarios: ReadmeBlock = {
  id: "example-scenarios",
  async render(run) {
    const rows: (string | number)[][] = [];
    for (const name of EXAMPLES) {
      const r = await json<SimJson>(run, ["sim", `scenarios/examples/${name}.json`, "--no-store", "--json"]);
      rows.push([name, n(r.stats.hosts), `${r.simSeconds} s`, n(r.events), n(r.stats.delivered), `\`${r.traceHash}\``, `${r.wallSeconds.toFixed(2)} s`, `${(r.eventsPerSec / 1e6).toFixed(2)} M`]);
    }
    return [
      "`npx testbed sim scenarios/examples/<name>.json --no-store --json`, one run each (each scenario's own seed):",
      "",
      table(["scenario", "hosts", "simulated", "events", "copies delivered", "trace", `wall ${WALL_MARK}`, `events/s ${WALL_MARK}`], rows),
      "",
      wallNote(),
    ].join("\n");
  },
};

interface PlanRowJson {
  clients: number;
  runtimeSecMean: number;
  duplicateDataPct: number;
  serverCtrlMsgsPerSec: number;
}

/** The planner's worked example: what one image costs for 1 to 40 clients in three situations. */
const planFrisbee: ReadmeBlock = {
  id: "plan-frisbee",
  async render(run) {
    const base = ["plan", "frisbee", "--image-mib", "64", "--data-mib", "192"];
    const cases: [string, string[], string][] = [
      ["no loss, disk 20 MiB/s", ["--clients", "1,10,40", "--disk-mibs", "20"], "--disk-mibs 20"],
      ["1% loss at the server", ["--clients", "1,2,5,10,40", "--loss", "0.01", "--loss-at", "server"], "--loss 0.01 --loss-at server"],
      ["1% loss per receiver", ["--clients", "1,10,40", "--loss", "0.01"], "--loss 0.01"],
    ];
    const rows: (string | number)[][] = [];
    for (const [label, flags] of cases) {
      const { results } = await json<{ results: PlanRowJson[] }>(run, [...base, ...flags, "--no-store", "--json"]);
      for (const r of results) rows.push([label, r.clients, r.runtimeSecMean.toFixed(3), r.duplicateDataPct, r.serverCtrlMsgsPerSec]);
    }
    return [
      "```sh",
      ...cases.map(([, flags, shown]) => `npx testbed plan frisbee --clients ${flags[1]} --image-mib 64 --data-mib 192 ${shown}`),
      "```",
      "",
      table(["situation", "clients", "mean runtime s", "dup %", "ctrl/s"], rows),
    ].join("\n");
  },
};

interface MonitorJson {
  testsRun: number;
  testsPerNodeDay: number;
  events: number;
  traceHash: string;
  wallSeconds: number;
  peakRssMiB: number;
  detectSec: { mean: number; p95: number };
  returnSec: { mean: number; p95: number };
  queueWaitSec: { mean: number };
  testsOnFlappersPct: number;
}

const monitorArgs = (window: number, extra: readonly string[] = []): string[] =>
  ["plan", "monitor", "--nodes", "100000", "--days", "7", "--window", String(window), "--flaky-pct", "2", "--seed", "1", ...extra, "--no-store", "--json"];

/** The monitor plan's answer for 100,000 nodes over a week; window 40 runs in a second, the others in a minute. */
const planMonitor: ReadmeBlock = {
  id: "plan-monitor",
  async render(run, quick) {
    const rows: (string | number)[][] = [];
    for (const window of quick ? [40] : [40, 400, 4000]) {
      const r = await json<MonitorJson>(run, monitorArgs(window));
      rows.push([
        n(window),
        n(r.testsRun),
        r.testsPerNodeDay,
        `${formatSeconds(r.detectSec.mean)} / ${formatSeconds(r.detectSec.p95)}`,
        `${formatSeconds(r.returnSec.mean)} / ${formatSeconds(r.returnSec.p95)}`,
        formatSeconds(r.queueWaitSec.mean),
        `${r.testsOnFlappersPct}%`,
      ]);
    }
    return table(["window", "tests", "per node-day", "detect mean / p95", "return mean / p95", "queue wait mean", "flapper tests"], rows);
  },
};

/** The monitor plan's speed: the deployed case, and stress runs where the window turns over fast. */
const monitorBench: ReadmeBlock = {
  id: "monitor-bench",
  async render(run, quick) {
    const cases: [string, string[]][] = [
      ["window 40, tests 20–60 s", monitorArgs(40)],
      ["window 400", monitorArgs(400)],
      ["window 4,000", monitorArgs(4000)],
      ["window 40, `--test-secs 1` (a TCP probe)", monitorArgs(40, ["--test-secs", "1"])],
    ];
    const rows: (string | number)[][] = [];
    for (const [label, args] of quick ? cases.slice(0, 1) : cases) {
      const r = await json<MonitorJson>(run, args);
      rows.push([label, n(r.testsRun), n(r.events), `\`${r.traceHash}\``, `${r.wallSeconds.toFixed(2)} s`, `${r.peakRssMiB} MiB`]);
    }
    return [table(["run", "tests", "engine events", "trace", `wall ${WALL_MARK}`, `peak RSS ${WALL_MARK}`], rows), "", wallNote()].join("\n");
  },
};

/** The simulated boot phase of scenarios/sync: 1,000 nodes, and the same with 10,000. */
const syncSim: ReadmeBlock = {
  id: "sync-sim",
  async render(run, quick) {
    const cases: [string, string][] = [
      ["1,000 (`boot-phase.json`)", "scenarios/sync/examples/boot-phase.json"],
      ["10,000 (the same, `count` 10000)", "scenarios/sync/examples/boot-phase-10000.json"],
    ];
    if (!quick) {
      const scenario = JSON.parse(run.read("scenarios/sync/examples/boot-phase.json")) as { hosts: { name: string; count?: number }[] };
      const nodes = scenario.hosts.find((h) => h.name === "node");
      if (nodes === undefined) throw new Error("boot-phase.json has no host group named node");
      nodes.count = 10_000;
      run.write("scenarios/sync/examples/boot-phase-10000.json", JSON.stringify(scenario));
    }
    const rows: (string | number)[][] = [];
    for (const [label, file] of quick ? cases.slice(0, 1) : cases) {
      const r = await json<SimJson>(run, ["sim", file, "--no-store", "--json"]);
      rows.push([label, `${r.simSeconds} s`, n(r.events), `\`${r.traceHash}\``, `${r.wallSeconds.toFixed(2)} s`]);
    }
    return [table(["nodes", "simulated", "events", "trace", `wall ${WALL_MARK}`], rows), "", wallNote()].join("\n");
  },
};

interface FrisbeePerfJson {
  results: { runtimeSecMean: number; runtimeSecMax: number; duplicateDataPct: number; serverCtrlMsgsPerSec: number; traceHash: string; wallSeconds: number }[];
}

/** The packet model's speed on 80 clients and a 655 MiB image (a run of about 15 s). */
const frisbeePacketBench: ReadmeBlock = {
  id: "frisbee-packet-bench",
  slowOnly: true,
  async render(run) {
    const args = ["plan", "frisbee", "--clients", "80", "--image-mib", "655", "--data-mib", "1965", "--loss", "0.01", "--loss-at", "receivers", "--model", "packet", "--no-store", "--json"];
    const r = (await json<FrisbeePerfJson>(run, args)).results[0];
    if (r === undefined) throw new Error("plan frisbee printed no row");
    return [
      table(
        ["clients", "mean runtime", "last client done", "resent", "ctrl/s", "trace", `wall ${WALL_MARK}`, `speed ${WALL_MARK}`],
        [["80", `${r.runtimeSecMean.toFixed(1)} s`, `${r.runtimeSecMax.toFixed(1)} s`, `${(r.duplicateDataPct / 100).toFixed(2)} × the image`, r.serverCtrlMsgsPerSec, `\`${r.traceHash}\``, `${r.wallSeconds.toFixed(1)} s`, `${(r.runtimeSecMax / r.wallSeconds).toFixed(1)} × real time`]],
      ),
      "",
      wallNote(),
    ].join("\n");
  },
};

/** The testbed side of sync: an experiment, its sync server, and the line a node is told. */
const experimentSample: ReadmeBlock = {
  id: "experiment-sample",
  async render(run) {
    // A store of its own, so that the sample's first experiment is always new.
    run.write("experiment-sample/.keep", "");
    const commands = [
      ["experiment", "create", "exp1", "--nodes", "node0=10.0.0.1,node1=10.0.0.2"],
      ["experiment", "set-sync-server", "exp1", "node1"],
      ["syncserver", "exp1", "node0"],
    ];
    const lines = ["```sh"];
    for (const c of commands) {
      lines.push(`$ npx testbed ${c.join(" ")}`);
      const out = await run([...c, "--db", "experiment-sample/testbed.db"]);
      lines.push(out.trimEnd().replace(/experiment-sample\/testbed\.db/g, "./testbed.db"));
    }
    lines.push("```");
    return lines.join("\n");
  },
};

interface ImageBenchJson {
  sizeMiB: number;
  granularity: { bytes: number; imageBytes: number; regions: number; allocatedBytes: number; createMiBs: number }[];
}

/** The image bench's disk-like file (256 MiB, seed 1) and its image at both granularities: a minute or two. */
const imageBenchDisk: ReadmeBlock = {
  id: "image-bench-disk",
  slowOnly: true,
  async render(run) {
    const r = await json<ImageBenchJson>(run, ["bench", "image", "--size-mib", "256", "--json"]);
    const rows = r.granularity.map((g) => [
      g.bytes === 512 ? "512 B" : `${g.bytes / 1024} KiB`,
      n(g.regions),
      `${n(g.allocatedBytes)} B (${(g.allocatedBytes / 2 ** 20).toFixed(1)} MiB)`,
      `${n(g.imageBytes / 2 ** 20)} chunks`,
      `${g.createMiBs.toFixed(1)} MiB/s`,
    ]);
    return [table(["granularity", "regions", "allocated", "image", `create ${WALL_MARK}`], rows), "", wallNote()].join("\n");
  },
};

interface PlanJson {
  results: { clients: number; runtimeSecMean: number; runtimeSecMin: number; runtimeSecMax: number; duplicateDataPct: number; serverCtrlMsgsPerSec: number; wallSeconds: number }[];
  peakRssMiB: number;
}

async function planRow(run: Runner, args: readonly string[]): Promise<PlanJson["results"][number] & { peakRssMiB: number }> {
  const out = await json<PlanJson>(run, ["plan", "frisbee", ...args, "--no-store", "--json"]);
  const row = out.results[0];
  if (row === undefined) throw new Error(`plan frisbee ${args.join(" ")} printed no row`);
  return { ...row, peakRssMiB: out.peakRssMiB };
}

const pct = (ours: number, base: number): string => `${((ours / base - 1) * 100).toFixed(1)}%`;

/** How the chunk model compares with the packet model beyond the fidelity test's 100 clients. */
const beyond100: ReadmeBlock = {
  id: "beyond-100-clients",
  slowOnly: true,
  heavy: true,
  async render(run) {
    const cases: [string, number, string[]][] = [
      ["none", 1000, ["--loss", "0"]],
      ["1% at the server", 1000, ["--loss", "0.01", "--loss-at", "server"]],
      ["1% per receiver", 300, ["--loss", "0.01"]],
      ["1% per receiver", 1000, ["--loss", "0.01"]],
      ["1% per receiver, seed 2", 1000, ["--loss", "0.01", "--seed", "2"]],
      ["1% per receiver", 3000, ["--loss", "0.01"]],
    ];
    const rows: (string | number)[][] = [];
    for (const [loss, clients, flags] of cases) {
      const common = ["--clients", String(clients), "--image-mib", "32", "--data-mib", "96", ...flags];
      const packet = await planRow(run, [...common, "--model", "packet"]);
      const chunk = await planRow(run, [...common, "--model", "chunk"]);
      const queued = loss === "none" ? null : await planRow(run, [...common, "--model", "chunk", "--server-queue"]);
      const cell = (r: { runtimeSecMean: number }): string => `${r.runtimeSecMean.toFixed(3)} (${pct(r.runtimeSecMean, packet.runtimeSecMean)})`;
      rows.push([n(clients), loss, packet.runtimeSecMean.toFixed(3), cell(chunk), queued === null ? "" : cell(queued), `${packet.wallSeconds.toFixed(0)} s`]);
    }
    return [table(["clients", "loss", "packet", "chunk", "chunk `--server-queue`", `packet wall ${WALL_MARK}`], rows), "", wallNote()].join("\n");
  },
};

/** The chunk model at 10,000 clients: several seeds, two image sizes, with and without the server's queue. */
const chunkScale: ReadmeBlock = {
  id: "chunk-scale",
  slowOnly: true,
  heavy: true,
  async render(run) {
    const cases: [number, number, boolean][] = [
      [256, 1, false],
      [1024, 1, false],
      [1024, 2, false],
      [1024, 3, false],
      [1024, 4, false],
      [1024, 5, false],
      [1024, 1, true],
      [256, 1, true],
    ];
    const rows: (string | number)[][] = [];
    for (const [imageMiB, seed, queue] of cases) {
      const r = await planRow(run, ["--clients", "10000", "--image-mib", String(imageMiB), "--data-mib", String(imageMiB * 3), "--loss", "0.01", "--seed", String(seed), ...(queue ? ["--server-queue"] : [])]);
      rows.push([
        `10,000 × ${imageMiB === 1024 ? "1 GiB" : `${imageMiB} MiB`}${queue ? ", `--server-queue`" : ""}`,
        seed,
        `${n(Math.round(r.runtimeSecMean))} s`,
        `${n(Math.round(r.runtimeSecMin))}–${n(Math.round(r.runtimeSecMax))} s`,
        `${(r.duplicateDataPct / 100).toFixed(1)} ×`,
        n(Math.round(r.serverCtrlMsgsPerSec)),
        `${r.wallSeconds.toFixed(1)} s`,
        `${r.peakRssMiB} MiB`,
      ]);
    }
    return [table(["clients × image, 1% loss per receiver", "seed", "mean runtime", "runtimes", "resent", "ctrl/s", `wall ${WALL_MARK}`, `peak RSS ${WALL_MARK}`], rows), "", wallNote()].join("\n");
  },
};

/** `plan service` at the issue's scale: a week of 1,000 nodes, a few seconds (the wall figure is masked). */
const planService: ReadmeBlock = {
  id: "plan-service",
  async render(run) {
    const command = ["plan", "service", "--nodes", "1000", "--days", "7", "--seed", "1", "--no-store"];
    return ["```sh", `$ npx testbed ${command.join(" ")}`, (await run(command)).trimEnd(), "```"].join("\n");
  },
};

interface SwapRowJson {
  nodes: number;
  deltaPct: number;
  deltaMiB: number;
  swapOutSec: number;
  swapOutBottleneck: string;
  frisbeeSec: number;
  swapInSec: number;
  swapInBottleneck: string;
}

/** Disk state of a whole experiment: 5% deltas on 16 GiB disks, a 1 and a 10 Gbit/s file server. */
const planSwap: ReadmeBlock = {
  id: "plan-swap",
  async render(run, quick) {
    const nodes = quick ? "10,100" : "10,100,1000";
    const cases: [string, string][] = [
      ["1 Gbit/s", "1000"],
      ["10 Gbit/s", "10000"],
    ];
    const rows: (string | number)[][] = [];
    for (const [label, mbps] of cases) {
      const { results } = await json<{ results: SwapRowJson[] }>(run, ["plan", "swap", "--nodes", nodes, "--delta-pct", "5", "--server-mbps", mbps, "--svg", "swap-plan.svg", "--json"]);
      for (const r of results) rows.push([label, n(r.nodes), n(Math.round(r.deltaMiB)), r.swapOutSec.toFixed(1), r.swapOutBottleneck, r.frisbeeSec.toFixed(1), r.swapInSec.toFixed(1), r.swapInBottleneck]);
    }
    return [
      "```sh",
      "npx testbed plan swap --nodes 10,100,1000 --delta-pct 5 --server-mbps 1000    # and 10000",
      "```",
      "",
      table(["file server", "nodes", "deltas MiB", "swap-out s", "bottleneck", "base by Frisbee s", "swap-in s", "bottleneck"], rows),
    ].join("\n");
  },
};

interface DeltaToolJson {
  bytes: number;
  makeSec: number;
  applySec: number;
  reproduced: boolean;
}
type DeltaToolResult = DeltaToolJson | { missing: string };
interface DeltaBenchJson {
  sizeMiB: number;
  baseImageBytes: number;
  signature: { mibPerSec: number; sha1sumMiBPerSec: number | null; ratio: number | null };
  cases: {
    what: string;
    ours: DeltaToolJson & { writtenBytes: number; kind: string; reloadSec: number };
    xdelta3: DeltaToolResult;
    rsync: DeltaToolResult;
    casync: DeltaToolResult;
    sizeVsXdelta3: number | null;
    makeVsFastest: number | null;
  }[];
}

/** `bench delta` on its 1 GiB disk-like file: our delta beside xdelta3, an rsync batch and casync. */
const deltaBench: ReadmeBlock = {
  id: "delta-bench",
  heavy: true,
  async render(run) {
    const r = await json<DeltaBenchJson>(run, ["bench", "delta", "--json"]);
    const mib = (b: number): string => (b / 2 ** 20).toFixed(2);
    const size = (t: DeltaToolResult): string => ("missing" in t ? "-" : `${mib(t.bytes)}${t.reproduced ? "" : " WRONG"}`);
    const time = (t: DeltaToolResult): string => ("missing" in t ? "-" : `${t.makeSec.toFixed(1)} / ${t.applySec.toFixed(1)}`);
    const rows = r.cases.map((c) => {
      if (!c.ours.reproduced) throw new Error(`bench delta: our delta did not reproduce the disk (${c.what})`);
      return [c.what, `${mib(c.ours.writtenBytes)} (${c.ours.kind})`, size(c.xdelta3), size(c.rsync), size(c.casync), c.sizeVsXdelta3?.toFixed(2) ?? "-", time(c.ours), time(c.xdelta3), time(c.rsync), time(c.casync), c.makeVsFastest?.toFixed(2) ?? "-"];
    });
    const s = r.signature;
    return [
      "```sh",
      "npx testbed bench delta --json    # 1 GiB: a third random, a third zeros, a third text",
      "```",
      "",
      table(["edit", "ours MiB", "xdelta3 MiB", "rsync batch MiB", "casync MiB", "ours / xdelta3 size", `make / apply s ours ${WALL_MARK}`, `xdelta3 ${WALL_MARK}`, `rsync ${WALL_MARK}`, `casync ${WALL_MARK}`, `ours / fastest make ${WALL_MARK}`], rows),
      "",
      table(["signature of the base image", `ours MiB/s ${WALL_MARK}`, `sha1sum MiB/s ${WALL_MARK}`, `ratio ${WALL_MARK}`], [[`${n(r.sizeMiB)} MiB disk, image ${mib(r.baseImageBytes)} MiB`, s.mibPerSec.toFixed(0), s.sha1sumMiBPerSec?.toFixed(0) ?? "-", s.ratio?.toFixed(2) ?? "-"]]),
      "",
      wallNote(),
    ].join("\n");
  },
};

export const README_BLOCKS: readonly ReadmeBlock[] = [planService, beyond100, chunkScale, imageBenchDisk, simSample, exampleScenarios, planFrisbee, experimentSample, planMonitor, monitorBench, syncSim, frisbeePacketBench, planSwap, deltaBench];
