import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FrisbeePlanOptions } from "../../sim/frisbee/plan-options.js";
import { checkPlanRow, planScenario, PlanError } from "../../scenarios/frisbee/plan.js";
import { INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { ScenarioError } from "../../scenarios/reader.js";
import { parseScenario, type Scenario } from "../../scenarios/schema.js";
import { readStartPattern } from "../../scenarios/start.js";

/**
 * The scenario file a plan row used to be written as, then read back: kept here as the reference
 * the typed scenario must equal, field for field, so that building it directly changes no run.
 */
function referenceDoc(o: FrisbeePlanOptions, startText: string, clients: number, loss: number): object {
  const serverLinkMbps = Math.max(1000, "serverMbps" in o.pacing ? o.pacing.serverMbps * 2 : 1000);
  const lossLinks =
    loss === 0 ? [] : o.lossAt === "receivers" ? [{ hosts: "node*", direction: "down", loss }] : [{ hosts: "server", direction: "up", loss }];
  const slowestMiBs = Math.min(o.clientMbps / 8, "serverMbps" in o.pacing ? o.pacing.serverMbps / 8 : 1e9, o.diskMiBs, o.inflateMiBs);
  const durationSec = Math.ceil((100 * o.dataMiB) / slowestMiBs + 60);
  return {
    name: `plan-frisbee-${clients}-${loss}`,
    duration: `${durationSec}s`,
    hosts: [{ name: "server" }, { name: "node", count: clients }],
    network: {
      headerBytes: 28,
      defaults: { bandwidth: `${serverLinkMbps}Mbit`, latency: "50us", queue: "1MiB" },
      links: [{ hosts: "node*", bandwidth: `${o.clientMbps}Mbit`, queue: "512KiB" }, ...lossLinks],
    },
    disks: [{ hosts: "node*", size: `${Math.ceil(o.dataMiB) + 1}MiB`, write: `${o.diskMiBs}MiB/s` }],
    cpus: [{ hosts: "node*", cores: 1, costs: { inflate: `${(o.inflateMiBs * o.imageMiB) / o.dataMiB}MiB/s` } }],
    frisbee: {
      servers: [
        {
          host: "server",
          image: { compressed: `${o.imageMiB}MiB`, uncompressed: `${o.dataMiB}MiB` },
          ...("serverMbps" in o.pacing ? { bandwidth: `${o.pacing.serverMbps}Mbit` } : { burst: o.pacing.burst, gap: `${o.pacing.gapUs}us` }),
          idleExit: "10s",
        },
      ],
      clients: [{ hosts: "node*", start: startText, heartbeat: `${o.heartbeatUs / 1e6}s` }],
    },
  };
}

const real = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });

const planArb = fc.record({
  clients: fc.integer({ min: 1, max: 300 }),
  loss: fc.oneof(fc.constant(0), real(0.0001, 0.2)),
  lossAt: fc.constantFrom("server" as const, "receivers" as const),
  imageMiB: real(0.001, 4096),
  dataMiB: real(0.001, 12_000),
  clientMbps: real(0.01, 100_000),
  pacing: fc.oneof(
    fc.record({ serverMbps: real(0.01, 100_000) }),
    fc.record({ burst: fc.integer({ min: 1, max: 100_000 }), gapUs: fc.integer({ min: 1, max: 60_000_000 }) }),
  ),
  diskMiBs: real(0.5, 1e6),
  inflateMiBs: real(0.5, 1e6),
  start: fc.constantFrom("simultaneous", "clustered:4:10s", "clustered:3:1.5s", "uniform:30s", "uniform:250ms"),
  heartbeatUs: fc.integer({ min: 1, max: 86_400 }).map((s) => s * 1e6),
});

describe("a plan row's scenario", () => {
  it("is the scenario its text form read back gave, field for field, without the text", () => {
    fc.assert(
      fc.property(planArb, ({ clients, loss, start, ...rest }) => {
        const o: FrisbeePlanOptions = { ...rest, clients: [clients], losses: [loss], start: readStartPattern(start) as FrisbeePlanOptions["start"], seed: 1, model: "packet" };
        let reference: Scenario;
        try {
          reference = parseScenario(JSON.stringify(referenceDoc(o, start, clients, loss)), `plan(clients=${clients}, loss=${loss})`, INVARIANT_NAMES);
        } catch (error) {
          // The text form refused rows beyond a file's limits (a CPU faster than 1e15 B/s, a year of
          // simulated time); checkPlanRow refuses the latter, the former runs.
          if (!(error instanceof ScenarioError)) throw error;
          fc.pre(false);
          return;
        }
        expect(planScenario(o, clients, loss)).toEqual(reference);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses a row too slow for a scenario's simulated-time limit, saying which flags to raise", () => {
    const o: FrisbeePlanOptions = {
      clients: [1], losses: [0], lossAt: "receivers", imageMiB: 1_000_000, dataMiB: 16_000_000, clientMbps: 0.01,
      pacing: { serverMbps: 0.01 }, diskMiBs: 0.001, inflateMiBs: 0.001, start: { kind: "simultaneous" }, heartbeatUs: 10_000_000, seed: 1, model: "packet",
    };
    expect(() => checkPlanRow(o, 1, 0)).toThrow(PlanError);
    expect(() => checkPlanRow(o, 1, 0)).toThrow(/simulated days, more than the limit of 366; raise the slowest of --client-mbps/);
    expect(() => checkPlanRow({ ...o, clientMbps: 100, pacing: { serverMbps: 72 }, diskMiBs: 60, inflateMiBs: 120, imageMiB: 64, dataMiB: 192 }, 1, 0)).not.toThrow();
  });
});
