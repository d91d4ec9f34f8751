import { performance } from "node:perf_hooks";

/** Shows progress only when it is worth it: on a terminal, once a job has run past `delayMs`. */
export interface Progress {
  update(fraction: number, note?: string): void;
  done(): void;
}

const BAR_WIDTH = 30;
const DELAY_MS = 1_000;
const REDRAW_MS = 100;

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => {}, done: () => {} };
  const started = performance.now();
  let lastDrawMs = 0;
  let drawn = false;
  return {
    update(fraction, note = "") {
      const now = performance.now();
      if (now - started < DELAY_MS || now - lastDrawMs < REDRAW_MS) return;
      lastDrawMs = now;
      drawn = true;
      const filled = Math.round(Math.min(1, Math.max(0, fraction)) * BAR_WIDTH);
      const elapsed = (now - started) / 1000;
      const left = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : NaN;
      const eta = Number.isFinite(left) ? ` ${left.toFixed(0)}s left` : "";
      const bar = `${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}`;
      stream.write(`\r${label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%${eta} ${note}\x1b[K`);
    },
    done() {
      if (drawn) stream.write("\r\x1b[K");
    },
  };
}

/** One line of status redrawn in place on a terminal (a wait with no fraction to show); nothing elsewhere. */
export interface StatusLine {
  show(text: string): void;
  clear(): void;
}

export function statusLine(stream: NodeJS.WriteStream = process.stderr): StatusLine {
  if (!stream.isTTY) return { show: () => {}, clear: () => {} };
  let drawn = false;
  return {
    show(text) {
      drawn = true;
      stream.write(`\r${text}\x1b[K`);
    },
    clear() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}
