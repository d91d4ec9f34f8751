import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { planOptions, type PlanFlags } from "../../bin/plan-command.js";
import { createRng } from "../../core/engine/rng.js";
import { deployedConfig } from "../../core/monitor/index.js";
import { planRow } from "../../scenarios/frisbee/plan.js";
import { INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { loadScenario, runScenario } from "../../scenarios/runner.js";
import { parseScenario, type Scenario } from "../../scenarios/schema.js";
import { runMonitorSim } from "../../sim/monitor/driver.js";
import { defaultMix } from "../../sim/monitor/models.js";

/**
 * Golden fingerprints: what a seed gives, pinned. The trace fingerprint and the event count of
 * each run below, and the first draws of the Rng, are promised to be the same on any machine and
 * across refactors. A row may change only in a commit that says why (a modelling fix), updating
 * this table; `GOLDEN_PRINT=1 npx vitest run test/golden` prints the table as the code gives it.
 */
interface Golden {
  traceHash: string;
  events: number;
}

const GOLDEN: Record<string, Golden> = {
  "examples/frisbee-small.json seed 5": { traceHash: "22b336637b77386c", events: 29779 },
  "examples/lossy-multicast.json seed 1": { traceHash: "a5b29c731ad62330", events: 288354 },
  "examples/partition-heal.json seed 3": { traceHash: "a5ca91168f36dc14", events: 418972 },
  "examples/many-hosts.json seed 7, first 1s": { traceHash: "70b5028aff15b0fb", events: 303906 },
  "sync/examples/boot-phase.json seed 7": { traceHash: "0804689a189c9d72", events: 59283 },
  "frisbee features seed 11": { traceHash: "05a67fb278f69f34", events: 4025 },
  "plan frisbee packet, 6 clients, loss 0.02 at server, clustered:3:1s, burst 8 gap 2000us": { traceHash: "c9c278d09c171deb", events: 6989 },
  "plan frisbee packet, 4 clients, loss 0.01 at receivers, uniform:2s": { traceHash: "a011a90966db4620", events: 3928 },
  "plan frisbee chunk, 400 clients, loss 0.01 at receivers, clustered:4:3s": { traceHash: "86cb27e3ff1c7adf", events: 13999 },
  "plan frisbee chunk, 300 clients, loss 0.02 at receivers, server queue": { traceHash: "a2d420b56566ca9d", events: 5562 },
  "plan monitor, 3000 nodes, 3 days, window 10": { traceHash: "d8440b3c330c35c1", events: 64268 },
};

/** The first draws of a root stream, of a fork, and of a fork of a fork: the Rng is part of every fingerprint. */
const GOLDEN_DRAWS: Record<string, number[]> = {
  "createRng(42).next()": [0.6848634963389486, 0.5463244677521288, 0.8455933185759932, 0.19908552314154804, 0.5637381218839437, 0.9635390304028988],
  "createRng(42).fork(\"host:a\").next()": [0.7566718445159495, 0.8558200809638947, 0.6307169510982931, 0.3406187267974019, 0.6586957371328026, 0.1732950648292899],
  "createRng(\"7\").fork(\"net\").fork(\"loss:h0.down\").next()": [0.10943005629815161, 0.5141008251812309, 0.9023287687450647, 0.173902309499681, 0.3359345367643982, 0.043779524276033044],
  "createRng(1).int(1000)": [526, 122, 477, 621, 165, 314],
  "createRng(1).exponential(5)": [3.73323660074135, 0.6542099969885764, 3.2477550387213734, 4.856871101595112, 0.9065208967164505, 1.890374411558754],
};

const DRAWS = 6;

function draws(): Record<string, number[]> {
  const take = (f: () => number): number[] => Array.from({ length: DRAWS }, f);
  const root = createRng(42);
  const fork = createRng(42).fork("host:a");
  const deep = createRng("7").fork("net").fork("loss:h0.down");
  const ints = createRng(1);
  const exps = createRng(1);
  return {
    "createRng(42).next()": take(() => root.next()),
    "createRng(42).fork(\"host:a\").next()": take(() => fork.next()),
    "createRng(\"7\").fork(\"net\").fork(\"loss:h0.down\").next()": take(() => deep.next()),
    "createRng(1).int(1000)": take(() => ints.int(1000)),
    "createRng(1).exponential(5)": take(() => exps.exponential(5)),
  };
}

const example = (path: string): Scenario => loadScenario(fileURLToPath(new URL(`../../scenarios/${path}`, import.meta.url)));
const parse = (doc: object): Scenario => parseScenario(JSON.stringify(doc), "golden.json", INVARIANT_NAMES);

function scenarioRun(scenario: Scenario, seed: number): Golden {
  const { result } = runScenario(scenario, { seed });
  return { traceHash: result.traceHash, events: result.events };
}

/**
 * A Frisbee run that touches what frisbee-small does not: burst/gap pacing with dynamic
 * adaptation, progress requests, JOIN v2, a client that leaves, clustered starts, loss at the
 * server in both directions, and a server crash and restart.
 */
const FRISBEE_FEATURES = {
  name: "golden-frisbee-features",
  duration: "40s",
  hosts: [{ name: "server" }, { name: "node", count: 6 }],
  network: {
    headerBytes: 28,
    defaults: { bandwidth: "1Gbit", latency: "50us", queue: "256KiB" },
    links: [
      { hosts: "node*", bandwidth: "100Mbit" },
      { hosts: "server", direction: "both", loss: 0.02 },
    ],
  },
  disks: [{ hosts: "node*", size: "64MiB", write: "40MiB/s" }],
  cpus: [{ hosts: "node*", cores: 1, costs: { inflate: "60MiB/s" } }],
  frisbee: {
    servers: [
      {
        host: "server",
        image: { compressed: "6MiB", uncompressed: "18MiB" },
        burst: 12,
        gap: "1500us",
        dynamic: true,
        idleExit: "5s",
        progressRequest: { interval: "1s", level: "full" },
      },
    ],
    clients: [
      { hosts: "node[0-3]", start: "clustered:2:1s", heartbeat: "1s", join2: true },
      { hosts: "node[4-5]", at: "500ms", start: "uniform:1s", heartbeat: "2s", leaveAt: "2s" },
    ],
  },
  faults: [{ type: "crash", at: "1500ms", hosts: "server", restart: "400ms" }],
};

const PLAN_DEFAULTS: PlanFlags = {
  clients: "1",
  imageMib: "8",
  dataMib: "24",
  clientMbps: "100",
  serverMbps: "72",
  diskMibs: "60",
  inflateMibs: "120",
  loss: "0",
  lossAt: "receivers",
  start: "simultaneous",
  model: "auto",
  heartbeat: "2",
  seed: "3",
  runs: "1",
  svg: "unused.svg",
  db: "unused.db",
  store: false,
};

function planRun(flags: Partial<PlanFlags>, model: "packet" | "chunk"): Golden {
  const o = planOptions({ ...PLAN_DEFAULTS, ...flags });
  const { row, run } = planRow(o, o.clients[0] as number, o.losses[0] as number);
  expect(row.model).toBe(model);
  return { traceHash: run.traceHash, events: run.events };
}

function monitorRun(): Golden {
  const nodes = 3000;
  const days = 3;
  const r = runMonitorSim({
    nodes,
    durationUs: days * 86_400_000_000,
    seed: 9,
    config: deployedConfig({ window: 10, entriesMax: nodes }),
    mix: defaultMix(nodes, days, 3),
  });
  return { traceHash: r.traceHash, events: r.events };
}

const RUNS: Record<string, () => Golden> = {
  "examples/frisbee-small.json seed 5": () => scenarioRun(example("examples/frisbee-small.json"), 5),
  "examples/lossy-multicast.json seed 1": () => scenarioRun(example("examples/lossy-multicast.json"), 1),
  "examples/partition-heal.json seed 3": () => scenarioRun(example("examples/partition-heal.json"), 3),
  // The whole of many-hosts takes seconds; its first second exercises the same paths.
  "examples/many-hosts.json seed 7, first 1s": () => scenarioRun({ ...example("examples/many-hosts.json"), durationUs: 1_000_000 }, 7),
  "sync/examples/boot-phase.json seed 7": () => scenarioRun(example("sync/examples/boot-phase.json"), 7),
  "frisbee features seed 11": () => scenarioRun(parse(FRISBEE_FEATURES), 11),
  "plan frisbee packet, 6 clients, loss 0.02 at server, clustered:3:1s, burst 8 gap 2000us": () =>
    planRun({ clients: "6", loss: "0.02", lossAt: "server", start: "clustered:3:1s", burst: "8", gapUs: "2000", model: "packet" }, "packet"),
  "plan frisbee packet, 4 clients, loss 0.01 at receivers, uniform:2s": () => planRun({ clients: "4", loss: "0.01", start: "uniform:2s" }, "packet"),
  "plan frisbee chunk, 400 clients, loss 0.01 at receivers, clustered:4:3s": () =>
    planRun({ clients: "400", loss: "0.01", start: "clustered:4:3s", imageMib: "16", dataMib: "48", model: "chunk" }, "chunk"),
  "plan frisbee chunk, 300 clients, loss 0.02 at receivers, server queue": () =>
    planRun({ clients: "300", loss: "0.02", model: "chunk", serverQueue: true }, "chunk"),
  "plan monitor, 3000 nodes, 3 days, window 10": monitorRun,
};

describe("golden fingerprints", () => {
  it("draws the same numbers from the Rng as it always has", () => {
    const actual = draws();
    if (process.env.GOLDEN_PRINT === "1") console.log(JSON.stringify(actual, null, 2));
    expect(actual).toEqual(GOLDEN_DRAWS);
  });

  it("covers every run of the table and nothing else", () => {
    expect(Object.keys(RUNS).sort()).toEqual(Object.keys(GOLDEN).sort());
  });

  for (const [name, run] of Object.entries(RUNS)) {
    it(`gives ${name} its fingerprint and event count`, () => {
      const actual = run();
      if (process.env.GOLDEN_PRINT === "1") console.log(`  ${JSON.stringify(name)}: { traceHash: "${actual.traceHash}", events: ${actual.events} },`);
      expect(actual).toEqual(GOLDEN[name]);
    });
  }
});
