import { lineChart, type Series } from "./svg.js";

/**
 * The planners' charts, built from rows of any origin: `plan frisbee --svg` and `plan swap --svg`
 * draw their predicted rows with them, and the portal draws the store's runs with the same ones,
 * so a measured swap sits on the axes a plan uses.
 */

/** One point of the Frisbee chart: mean client runtime of `clients` clients at `loss`. */
export interface FrisbeeChartRow {
  readonly clients: number;
  readonly loss: number;
  readonly runtimeSecMean: number;
}

export function frisbeePlanChart(rows: readonly FrisbeeChartRow[]): string {
  const losses = [...new Set(rows.map((r) => r.loss))];
  return lineChart(
    "Frisbee: mean client runtime against clients",
    "clients",
    "runtime (s)",
    losses.map((loss) => ({ label: `loss ${loss}`, points: rows.filter((r) => r.loss === loss).map((r) => ({ x: r.clients, y: r.runtimeSecMean })) })),
    true,
  );
}

/** One point of the swap chart: a swap-out or swap-in of `nodes` nodes that took `seconds`. */
export interface SwapChartPoint {
  readonly kind: "swapout" | "swapin";
  /** The series beside the kind: a plan's delta size ("5%"), or a measured swap's world ("sim"). */
  readonly group: string;
  readonly nodes: number;
  readonly seconds: number;
}

const KIND_LABEL = { swapout: "swap-out", swapin: "swap-in" } as const;

/** Swap-out and swap-in time against nodes, one line per kind and group, groups in the order first seen. */
export function swapChart(points: readonly SwapChartPoint[]): string {
  const groups = [...new Set(points.map((p) => p.group))];
  const series: Series[] = groups.flatMap((group) =>
    (["swapout", "swapin"] as const)
      .map((kind) => ({ label: `${KIND_LABEL[kind]}, ${group}`, points: points.filter((p) => p.group === group && p.kind === kind).map((p) => ({ x: p.nodes, y: p.seconds })) }))
      .filter((s) => s.points.length > 0),
  );
  return lineChart("Disk state: swap-out and swap-in time against nodes", "nodes", "time (s)", series, true);
}
