/** A small line chart as SVG text: one line per series, points marked, axes labelled. */
export interface Series {
  label: string;
  points: { x: number; y: number }[];
}

const W = 640;
const H = 400;
const M = { left: 60, right: 150, top: 30, bottom: 50 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], logX: boolean): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => (logX ? Math.log10(Math.max(p.x, 1)) : p.x));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1e-9);
  const yMax = Math.max(...all.map((p) => p.y), 1e-9) * 1.1;
  const px = (x: number): number => M.left + (((logX ? Math.log10(Math.max(x, 1)) : x) - xMin) / (xMax - xMin || 1)) * (W - M.left - M.right);
  const py = (y: number): number => H - M.bottom - (y / yMax) * (H - M.top - M.bottom);
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
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    out.push(`<text x="${M.left - 6}" y="${py(y) + 4}" text-anchor="end">${Number(y.toPrecision(3))}</text>`);
    out.push(`<line x1="${M.left}" y1="${py(y)}" x2="${W - M.right}" y2="${py(y)}" stroke="#ddd"/>`);
  }
  for (const x of [...new Set(all.map((p) => p.x))].sort((a, b) => a - b)) {
    out.push(`<text x="${px(x)}" y="${H - M.bottom + 16}" text-anchor="middle">${x}</text>`);
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
