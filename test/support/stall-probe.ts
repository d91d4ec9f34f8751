import { appendFileSync } from "node:fs";
import { loadavg } from "node:os";
import { relative } from "node:path";
import { afterAll, afterEach, beforeEach, expect } from "vitest";

/**
 * Event-loop stall probe (a vitest setup file, on only when TESTBED_STALL_PROBE names an output
 * file; see vitest.config.ts). Vitest's worker answers its runner over RPC with a fixed 60 s
 * timeout: a test that blocks its worker's event loop that long on a loaded machine fails the run
 * ("Timeout calling onTaskUpdate") though no test failed. This finds such tests.
 *
 * A timer ticks every TICK_MS; the time between two ticks is a stall. Time is split at test
 * boundaries, so each stretch of synchronous work is charged to the test (or to the hooks outside
 * tests) that ran it, not to whoever was running when the timer could fire again. Per test and for
 * the file's hooks, the longest stall (wall ms) and the process CPU ms spent in it are appended as
 * `stallMs <TAB> cpuMs <TAB> load1 <TAB> file > test`, so `sort -rn FILE | head` ranks them.
 */

const TICK_MS = 20;
const OUTSIDE = "(hooks and module load outside tests)";
const output = process.env["TESTBED_STALL_PROBE"];

interface Worst {
  stallMs: number;
  cpuMs: number;
}

const worst = new Map<string, Worst>();
let label = OUTSIDE;
let segmentStart = performance.now();
let segmentCpu = process.cpuUsage();

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** Ends the current stretch of work (at a tick, or a test boundary), charging it to `label`. */
function closeSegment(): void {
  const now = performance.now();
  const stallMs = now - segmentStart;
  const cpuMs = cpuMsSince(segmentCpu);
  const w = worst.get(label);
  if (w === undefined || stallMs > w.stallMs) worst.set(label, { stallMs, cpuMs });
  segmentStart = now;
  segmentCpu = process.cpuUsage();
}

function enter(next: string): void {
  closeSegment();
  label = next;
}

if (output !== undefined && output !== "") {
  // A tick ends a stretch: the loop was free for a moment. The timer's own period is not a stall.
  const timer = setInterval(() => {
    closeSegment();
  }, TICK_MS);
  timer.unref();

  beforeEach((ctx) => enter(ctx.task.suite?.name ? `${ctx.task.suite.name} > ${ctx.task.name}` : ctx.task.name));
  afterEach(() => enter(OUTSIDE));
  afterAll(() => {
    closeSegment();
    clearInterval(timer);
    const file = relative(process.cwd(), expect.getState().testPath ?? "?");
    const load = loadavg()[0]!.toFixed(1);
    const lines = [...worst].map(([name, w]) => `${Math.round(Math.max(0, w.stallMs - TICK_MS))}\t${Math.round(w.cpuMs)}\t${load}\t${file} > ${name}\n`);
    appendFileSync(output, lines.join(""));
  });
}
