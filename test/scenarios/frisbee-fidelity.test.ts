import { describe, expect, it } from "vitest";
import { parseStartPattern, type StartPattern } from "../../scenarios/start.js";
import { CHUNK_MODEL_RECEIVER_LOSS_MAX, CHUNK_MODEL_SERVER_LOSS_MAX, chunkModelValidity, runChunkModel } from "../../sim/frisbee/chunk-model/index.js";
import { AUTO_PACKET_CLIENT_MIB_MAX, modelFor, planRow, planRowRuns, planRowSteps, type FrisbeePlanOptions, type LossAt } from "../../scenarios/frisbee/plan.js";
import { breatheThrough } from "../support/breathe.js";

/**
 * The chunk-level model must agree with the packet-level model (the truth) within 5% on mean
 * client runtime, averaged over seeds, up to 100 clients, loss 0 to 10% per receiver or 0 to 5%
 * at the server (where `--model auto` uses it), and every start pattern. The default grid takes
 * the corners and a middle of that space; FRISBEE_FIDELITY=full runs the whole grid (72 cells,
 * several minutes).
 */
const FULL = process.env.FRISBEE_FIDELITY === "full";
/**
 * Small runs vary more from seed to seed (one repair timer is a large share of them), so they get
 * more seeds. With 8 seeds the standard error of a small cell's difference reached 3.4%, so a 5%
 * bound failed by chance; the full grid, measured with 32 and 6 seeds, differs by at most 3.4%.
 */
const seedsFor = (clients: number): number[] => Array.from({ length: clients <= 20 ? (FULL ? 32 : 16) : FULL ? 6 : 3 }, (_, k) => k + 1);
const AGREEMENT_MAX = 0.05;
const PATTERNS = ["simultaneous", "clustered:4:2s", "uniform:5s"];

function options(over: Partial<FrisbeePlanOptions> = {}): FrisbeePlanOptions {
  return {
    clients: [1],
    losses: [0],
    lossAt: "receivers",
    imageMiB: 24,
    dataMiB: 72,
    clientMbps: 100,
    pacing: { serverMbps: 72 },
    diskMiBs: 60,
    inflateMiBs: 120,
    start: { kind: "simultaneous" },
    heartbeatUs: 10_000_000,
    seed: 1,
    model: "packet",
    ...over,
  };
}


async function meanRuntime(o: FrisbeePlanOptions, clients: number, loss: number): Promise<number> {
  let sum = 0;
  const seeds = seedsFor(clients);
  for (const seed of seeds) {
    // A 100-client packet run is seconds of work (90 s of one worker at load 28): it runs in
    // steps, and the worker answers vitest between them.
    const { row } = await breatheThrough(planRowSteps({ ...o, seed }, clients, loss));
    expect(row.finished, `${row.model} model: every client finishes`).toBe(clients);
    sum += row.runtimeSecMean;
  }
  return sum / seeds.length;
}

interface Cell {
  start: string;
  lossAt: LossAt;
  clients: number;
  loss: number;
}

/** `--server-queue` with loss at the server: a known gap, kept from growing (issue 16). */
const QUEUE_SERVER_LOSS_MAX = 0.1;

function grid(): Cell[] {
  const corners = (lossMax: number): [number, number][] =>
    FULL
      ? [1, 10, 100].flatMap((c) => [0, 0.01, lossMax / 2, lossMax].map((l): [number, number] => [c, l]))
      : [
          [1, lossMax],
          [20, 0.02],
          [100, 0],
          [100, lossMax],
        ];
  return PATTERNS.flatMap((start) =>
    (["receivers", "server"] as LossAt[]).flatMap((lossAt) =>
      corners(lossAt === "server" ? CHUNK_MODEL_SERVER_LOSS_MAX : CHUNK_MODEL_RECEIVER_LOSS_MAX).map(([clients, loss]) => ({ start, lossAt, clients, loss })),
    ),
  );
}

describe("the chunk-level Frisbee model", () => {
  describe("agrees with the packet-level model within 5% on mean runtime", () => {
    for (const cell of grid()) {
      it(`${cell.clients} clients, loss ${cell.loss} at the ${cell.lossAt}, start ${cell.start}`, { timeout: 300_000 }, async () => {
        const o = options({ start: parseStartPattern(cell.start) as StartPattern, lossAt: cell.lossAt });
        const packet = await meanRuntime({ ...o, model: "packet" }, cell.clients, cell.loss);
        const chunk = await meanRuntime({ ...o, model: "chunk" }, cell.clients, cell.loss);
        expect(Math.abs(chunk - packet) / packet, `packet ${packet.toFixed(3)} s, chunk ${chunk.toFixed(3)} s`).toBeLessThanOrEqual(AGREEMENT_MAX);
        // The variant with the server's link queue, where herds of requests first grow large. It
        // models loss per receiver; with loss at the server it strays further since the trains
        // (100 clients, 5% at the server, clustered:4:2s: packet 5.989 s, queued 6.391 s, +6.7%).
        if (cell.clients >= 100) {
          const queued = await meanRuntime({ ...o, model: "chunk", serverQueue: true }, cell.clients, cell.loss);
          const bound = cell.lossAt === "receivers" ? AGREEMENT_MAX : QUEUE_SERVER_LOSS_MAX;
          expect(Math.abs(queued - packet) / packet, `packet ${packet.toFixed(3)} s, chunk with the queue ${queued.toFixed(3)} s`).toBeLessThanOrEqual(bound);
        }
      });
    }
  });

  it("replays a seed exactly and differs with another", () => {
    const o = options({ lossAt: "receivers" });
    const a = runChunkModel({ ...o, seed: 7 }, 50, 0.05);
    const b = runChunkModel({ ...o, seed: 7 }, 50, 0.05);
    const c = runChunkModel({ ...o, seed: 8 }, 50, 0.05);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.stats).toEqual(a.stats);
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it("loses each block at a receiver with the probability asked, in whole and repair segments alike", () => {
    // One client: every block is sent until it arrives, so the server resends p / (1 - p) of the
    // image. Repairs reach a client holding most of a chunk, where losses are drawn only over the
    // blocks it lacks. The spread is about 0.2% of the image; allow 1%.
    for (const loss of [0.05, 0.1]) {
      for (const seed of [1, 2, 3]) {
        const r = runChunkModel(options({ model: "chunk", seed }), 1, loss);
        expect(r.stats.finished).toBe(1);
        expect(Math.abs(r.stats.duplicateDataPct - (100 * loss) / (1 - loss)), `loss ${loss} seed ${seed}: resent ${r.stats.duplicateDataPct}%`).toBeLessThan(1);
      }
    }
  });

  it("reports progress as a rising fraction that ends at 1", () => {
    const seen: number[] = [];
    runChunkModel(options({ model: "chunk" }), 200, 0.01, (f) => seen.push(f));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(1);
    for (let k = 1; k < seen.length; k++) expect(seen[k]).toBeGreaterThanOrEqual(seen[k - 1] as number);
  });

  it("with the server's link queue, agrees with the packet model at a thousand clients with loss per receiver", { timeout: 300_000 }, async () => {
    // A thousand clients' idle requests overflow every client's downlink (and with larger images
    // the server's link), the server starts on the first before the rest are in, and clients that lost a packet the
    // rest heard tick ahead and break up the next herd. Measured (seeds 1-3): packet 1.337 s,
    // chunk 1.383 s with the queue (+3.4%) and 1.261 s without it (-5.7%).
    const o = options({ imageMiB: 4, dataMiB: 12 });
    const packet = await meanRuntime({ ...o, model: "packet" }, 1000, 0.01);
    const queued = await meanRuntime({ ...o, model: "chunk", serverQueue: true }, 1000, 0.01);
    const plain = await meanRuntime({ ...o, model: "chunk" }, 1000, 0.01);
    expect(Math.abs(queued - packet) / packet, `packet ${packet.toFixed(3)} s, chunk with the queue ${queued.toFixed(3)} s`).toBeLessThanOrEqual(AGREEMENT_MAX);
    expect((packet - plain) / packet, `packet ${packet.toFixed(3)} s, chunk without the queue ${plain.toFixed(3)} s`).toBeGreaterThan(AGREEMENT_MAX);
    const r = runChunkModel({ ...o, model: "chunk", serverQueue: true }, 1000, 0.01);
    expect(r.downlinkDrops.requests).toBeGreaterThan(0);
    expect(r.stats.finished).toBe(1000);
  });

  it("is flat in the number of clients with no loss and a disk bottleneck, as the packet model", () => {
    const o = options({ diskMiBs: 5 });
    const one = runChunkModel(o, 1, 0).stats.runtimeSecMean;
    const many = runChunkModel(o, 500, 0).stats.runtimeSecMean;
    expect(many).toBeCloseTo(one, 1);
  });
});

/**
 * Beyond the default grid: 1,000 and 3,000 clients with 1% loss per receiver, the chunk model
 * with the server's queue against the packet model, 4 seeds each (FRISBEE_FIDELITY=scale; the
 * packet runs take about 2 CPU minutes in all). Small images: the agreement is on relative time.
 */
const SCALE = process.env.FRISBEE_FIDELITY === "scale";

describe.skipIf(!SCALE)("the chunk-level model at scale (FRISBEE_FIDELITY=scale)", () => {
  for (const [clients, imageMiB] of [
    [1000, 8],
    [3000, 8],
  ] as const) {
    it(`agrees within 5% at ${clients} clients of a ${imageMiB} MiB image, 1% loss per receiver`, { timeout: 3_600_000 }, async () => {
      const o = options({ imageMiB, dataMiB: imageMiB * 3 });
      let packet = 0;
      let chunk = 0;
      for (const seed of [1, 2, 3, 4]) {
        packet += (await breatheThrough(planRowSteps({ ...o, model: "packet", seed }, clients, 0.01))).row.runtimeSecMean / 4;
        chunk += planRow({ ...o, model: "chunk", serverQueue: true, seed }, clients, 0.01).row.runtimeSecMean / 4;
      }
      expect(Math.abs(chunk - packet) / packet, `packet ${packet.toFixed(3)} s, chunk ${chunk.toFixed(3)} s`).toBeLessThanOrEqual(AGREEMENT_MAX);
    });
  }
});

describe("several runs per row", () => {
  it("combines runs on consecutive seeds into one row, and keeps each run's figures", () => {
    const o = options({ model: "chunk", seed: 5 });
    const { row, runs } = planRowRuns(o, 30, 0.02, 3);
    expect(runs.map((r) => r.seed)).toEqual([5, 6, 7]);
    expect(row.runs).toBe(3);
    const singles = [5, 6, 7].map((seed) => planRow({ ...o, seed }, 30, 0.02).row);
    expect(row.perRun?.map((p) => p.traceHash)).toEqual(singles.map((s) => s.traceHash));
    const means = singles.map((s) => s.runtimeSecMean);
    expect(row.runtimeSecMean).toBeCloseTo(means.reduce((a, b) => a + b, 0) / 3, 2);
    expect(row.runtimeSecMin).toBe(Math.min(...singles.map((s) => s.runtimeSecMin)));
    expect(row.runtimeSecMax).toBe(Math.max(...singles.map((s) => s.runtimeSecMax)));
    expect(row.ok).toBe(true);
  });

  it("in steps, is the row run at once, and pauses within it", () => {
    const o = options({ model: "packet", seed: 2 });
    // 100 clients: a server's burst is one event (a train), so a smaller row can run a whole
    // progress step in fewer than PAUSE_EVENTS events and never pause (20 clients did not).
    const steps = planRowSteps(o, 100, 0.02);
    let pauses = 0;
    let fractions = 0;
    for (let next = steps.next(); ; next = steps.next()) {
      if (next.done === true) {
        const whole = planRow(o, 100, 0.02).row;
        expect(next.value.row).toEqual({ ...whole, wallSeconds: next.value.row.wallSeconds });
        break;
      }
      if (next.value === null) pauses++;
      else fractions++;
    }
    // A pause at least every PAUSE_EVENTS events, besides the hundred progress fractions.
    expect(fractions).toBe(100);
    expect(pauses).toBeGreaterThan(0);
  });

  it("is the plain row with one run", () => {
    const o = options({ model: "chunk" });
    const { row } = planRowRuns(o, 30, 0.02, 1);
    expect(row).toEqual({ ...planRow(o, 30, 0.02).row, wallSeconds: row.wallSeconds });
    expect(row.perRun).toBeUndefined();
  });
});

describe("--model auto", () => {
  it("runs the packet model for rows it can afford", () => {
    expect(modelFor(options({ model: "auto" }), 100, 0.01)).toBe("packet");
  });

  it("runs the chunk model for large rows where it agrees", () => {
    const o = options({ model: "auto", imageMiB: 1024, dataMiB: 3072 });
    expect(10_000 * 1024).toBeGreaterThan(AUTO_PACKET_CLIENT_MIB_MAX);
    expect(modelFor(o, 10_000, 0.01)).toBe("chunk");
    expect(modelFor(o, 10_000, 0.1)).toBe("chunk");
  });

  it("keeps the packet model where the chunk model was not shown to agree", () => {
    const big = { model: "auto" as const, imageMiB: 1024, dataMiB: 3072 };
    // Loss above what was checked.
    expect(chunkModelValidity(options(big), 0.2)).toMatch(/loss 0.2 at the receivers/);
    expect(modelFor(options(big), 10_000, 0.2)).toBe("packet");
    expect(modelFor(options({ ...big, lossAt: "server" }), 10_000, 0.1)).toBe("packet");
    expect(modelFor(options({ ...big, lossAt: "server" }), 10_000, 0.05)).toBe("chunk");
    // Bursts further apart than a receive timeout: clients tick idle between them.
    expect(modelFor(options({ ...big, pacing: { burst: 1, gapUs: 50_000 } }), 10_000, 0.01)).toBe("packet");
    // Client links slower than the server: packets queue and drop at the clients.
    expect(modelFor(options({ ...big, clientMbps: 10 }), 10_000, 0.01)).toBe("packet");
  });

  it("marks chunk rows beyond where the model was measured to agree", () => {
    const o = options({ model: "chunk" });
    expect(planRow(o, 100, 0.01).row.caveat).toBeUndefined();
    expect(planRow(o, 1000, 0.01).row.caveat).toMatch(/^beyond 300 clients with loss per receiver the chunk model is optimistic: its runtimes come out shorter/);
    expect(planRow({ ...o, serverQueue: true }, 1000, 0.01).row.caveat).toMatch(/with --server-queue was measured within 3.4%.* but 13% slow at 3,000 clients of a 32 MiB image/);
    expect(planRow({ ...o, lossAt: "server" }, 1000, 0.01).row.caveat).toBeUndefined();
    expect(planRow(o, 1000, 0).row.caveat).toBeUndefined();
  });

  it("refuses --model chunk where it is not valid, naming why", () => {
    expect(() => modelFor(options({ model: "chunk" }), 10, 0.5)).toThrow(/--model chunk: not valid for this row \(loss 0.5/);
  });
});
