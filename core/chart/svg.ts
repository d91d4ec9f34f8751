/** A small line chart as SVG text: one line per series, points marked, axes labelled. */
export interface Series {
  label: string;
  points: { x: number; y: number }[];
}

const W = 640;
const H = 400;
const M = { left: 60, right: 150, top: 30, bottom: 50 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/** Tick steps are 1, 2, 2.5 or 5 times a power of ten, so that ticks fall on round values. */
const NICE_STEPS = [1, 2, 2.5, 5, 10];
const Y_TICKS_ABOUT = 5;

/** Round ticks from 0 (or below the data) up to at least `max`: about `count` steps of a nice size. */
export function niceTicks(min: number, max: number, count: number): number[] {
  const span = max - min > 0 ? max - min : Math.abs(max) || 1;
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = (NICE_STEPS.find((m) => m * power >= raw * (1 - 1e-9)) ?? 10) * power;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  // Products of whole numbers and the step, printed at the step's precision: no 0.30000000000000004.
  for (let i = first; i <= Math.max(last, first + 1); i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Powers of ten from below the smallest to above the largest value, for a log axis. */
export function decadeTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  const low = Math.floor(Math.log10(Math.max(min, 1)));
  // At least two ticks, so that one value alone still has an axis to sit on.
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(max, 1))));
  for (let e = low; e <= high; e++) ticks.push(10 ** e);
  return ticks;
}

export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], logX: boolean): string {
  const all = series.flatMap((s) => s.points);
  // No points at all (an empty store): the axes of a single point at the origin, not NaN.
  const dataX = all.length > 0 ? all.map((p) => p.x) : [logX ? 1 : 0];
  // The axes run between round ticks that enclose the data: decades on a log axis, nice steps otherwise.
  const xTicks = logX ? decadeTicks(Math.min(...dataX), Math.max(...dataX)) : niceTicks(Math.min(...dataX), Math.max(...dataX), Y_TICKS_ABOUT);
  const yTicks = niceTicks(0, Math.max(...all.map((p) => p.y), 0), Y_TICKS_ABOUT);
  const scaleX = (x: number): number => (logX ? Math.log10(Math.max(x, 1)) : x);
  const xMin = scaleX(xTicks[0] as number);
  const xMax = scaleX(xTicks[xTicks.length - 1] as number);
  const yMin = yTicks[0] as number;
  const yMax = yTicks[yTicks.length - 1] as number;
  const px = (x: number): number => M.left + ((scaleX(x) - xMin) / (xMax - xMin || 1)) * (W - M.left - M.right);
  const py = (y: number): number => H - M.bottom - ((y - yMin) / (yMax - yMin || 1)) * (H - M.top - M.bottom);
  const esc = (t: string): string => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${H / 2}" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">${esc(yLabel)}</text>`,
  ];
  for (const y of yTicks) {
    out.push(`<text x="${M.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${y}</text>`);
    out.push(`<line x1="${M.left}" y1="${py(y).toFixed(1)}" x2="${W - M.right}" y2="${py(y).toFixed(1)}" stroke="#ddd"/>`);
  }
  for (const x of xTicks) {
    out.push(`<text x="${px(x).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${x}</text>`);
  }
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ")}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${colour}"/>`);
    out.push(`<text x="${W - M.right + 10}" y="${M.top + 16 * (i + 1)}" fill="${colour}">${esc(s.label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}
