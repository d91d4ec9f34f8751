import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, fsyncSync, openSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { makeScratchDir, removeScratchDir } from "../output/index.js";
import { sameFiles } from "./compare.js";
import { createImage } from "./create.js";
import { nodeEngine } from "./deflater.js";
import { DELTA_THRESHOLD_PERCENT_DEFAULT, loadDeltaBase, makeDelta } from "./delta.js";
import { fillDiskLike, writeDiskLikeFile, type DiskMix } from "./disklike.js";
import { reloadImage } from "./reload.js";
import { makeSignature, signatureBytes } from "./signature.js";
import { writeFully } from "./source.js";
import { DELTA_CASES, REPEAT_DEFAULT, REPEAT_UNDER_SEC } from "./defaults.js";

/**
 * `testbed bench delta`: one disk-like file (a third random, a third zeros, a third text), three
 * edits of it (5% of its 64 KiB blocks rewritten at random; one contiguous 100 MiB rewrite; no
 * change), and for each the delta's size and the time to make and to apply it: ours beside
 * `xdelta3 -e -s`, an rsync batch and `casync make` on the same files. Every delta is applied to
 * a copy of the old disk and the result compared with the new one. Also the signature's speed
 * beside `sha1sum` of the same disk.
 */
export const DELTA_BENCH_MIX: DiskMix = { randomTenths: 10 / 3, zeroTenths: 10 / 3 };
export const BLOCK_BYTES = 64 * 1024;
const MIB = 1024 * 1024;
export { DELTA_CASES, REPEAT_DEFAULT, REPEAT_UNDER_SEC };

export interface DeltaBenchOptions {
  sizeBytes: number;
  seed: number;
  /** Folder to make the scratch folder in. */
  dir?: string;
  level: number;
  blockPct: number;
  rewriteBytes: number;
  /** Run the baselines (xdelta3, rsync, casync) that are installed. */
  baselines: boolean;
  /** Which edits to run (default all three, in this order). */
  cases?: readonly DeltaCase["name"][];
  /** A make that takes under REPEAT_UNDER_SEC is run up to this many times in all, the least kept. */
  repeat?: number;
  onStep?: (what: string) => void;
}

export interface ToolFigures {
  /** Bytes of the delta as stored (for ours, the file's apparent size: whole 1 MiB chunks). */
  bytes: number;
  makeSec: number;
  applySec: number;
  /** The delta applied to a copy of the old disk gave the new disk, byte for byte. */
  reproduced: boolean;
}

export type ToolResult = ToolFigures | { missing: string };

export interface DeltaCase {
  name: "blocks" | "rewrite" | "none";
  what: string;
  changedBytes: number;
  /**
   * `bytes` is the file's apparent size (whole 1 MiB chunks); `writtenBytes` what it holds without
   * the chunks' zero padding (header areas and zlib streams: what a sparse copy stores, and what the
   * size comparisons use); `storedBytes` what the file system allocated for it.
   */
  ours: ToolFigures & { kind: string; dataBytes: number; writtenBytes: number; storedBytes: number; reloadSec: number };
  xdelta3: ToolResult;
  rsync: ToolResult;
  casync: ToolResult;
  /** Ours (without padding) / xdelta3's size, and ours / the fastest baseline's time to make. */
  sizeVsXdelta3: number | null;
  makeVsFastest: number | null;
}

export interface DeltaBenchResult {
  sizeMiB: number;
  seed: number;
  level: number;
  baseImageBytes: number;
  /** Signature of the base image: disk MiB covered per second, beside sha1sum of the disk. */
  signature: { seconds: number; mibPerSec: number; sha1sumMiBPerSec: number | null; ratio: number | null };
  cases: DeltaCase[];
}

function timed<T>(body: () => T): { value: T; seconds: number } {
  const t = performance.now();
  const value = body();
  return { value, seconds: (performance.now() - t) / 1000 };
}

async function timedAsync<T>(body: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = performance.now();
  const value = await body();
  return { value, seconds: (performance.now() - t) / 1000 };
}

/** The least time of up to `repeat` runs, the later ones only while a run takes under REPEAT_UNDER_SEC. */
async function leastOf<T>(repeat: number, body: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  let best = await timedAsync(body);
  for (let k = 1; k < repeat && best.seconds < REPEAT_UNDER_SEC; k++) {
    const again = await timedAsync(body);
    if (again.seconds < best.seconds) best = again;
  }
  return best;
}

/**
 * A copy whose bytes are on the disk before anything is timed: otherwise the kernel writes the
 * copy's dirty pages back during the next timed run (ours, always the first) and slows it.
 */
function copySynced(from: string, to: string): void {
  copyFileSync(from, to);
  syncFile(to);
}

function syncFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 16 * MIB });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status}): ${(r.stderr ?? "").split("\n")[0]}`);
}

function installed(cmd: string): boolean {
  const r = spawnSync(cmd, ["--version"], { encoding: "utf8" });
  return r.error === undefined;
}

/** Writes the edits of one case into `path` (a copy of the old disk); returns the bytes changed. */
async function edit(path: string, name: DeltaCase["name"], o: DeltaBenchOptions): Promise<number> {
  if (name === "none") return 0;
  const fh = await open(path, "r+");
  try {
    if (name === "rewrite") {
      const data = new Uint8Array(o.rewriteBytes);
      fillDiskLike(data, o.seed + 101, DELTA_BENCH_MIX);
      const at = Math.floor((o.sizeBytes - o.rewriteBytes) / 2 / BLOCK_BYTES) * BLOCK_BYTES;
      await writeFully(fh, data, at);
      return data.length;
    }
    const blocks = o.sizeBytes / BLOCK_BYTES;
    const chosen = pickBlocks(blocks, Math.round((blocks * o.blockPct) / 100), o.seed + 7);
    const data = new Uint8Array(BLOCK_BYTES);
    for (const [k, b] of chosen.entries()) {
      fillDiskLike(data, o.seed * 1_000_003 + k, DELTA_BENCH_MIX);
      await writeFully(fh, data, b * BLOCK_BYTES);
    }
    return chosen.length * BLOCK_BYTES;
  } finally {
    await fh.close();
  }
}

/** `count` distinct blocks out of `blocks`, from a seeded xorshift (a partial Fisher-Yates). */
function pickBlocks(blocks: number, count: number, seed: number): number[] {
  const order = Array.from({ length: blocks }, (_, i) => i);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = i + ((x >>> 0) % (blocks - i));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, count).sort((a, b) => a - b);
}

export async function runDeltaBench(o: DeltaBenchOptions): Promise<DeltaBenchResult> {
  if (o.sizeBytes % BLOCK_BYTES !== 0) throw new Error(`bench delta: size ${o.sizeBytes} is not whole 64 KiB blocks`);
  const dir = makeScratchDir("testbed-delta-bench-", o.dir);
  try {
    const old = join(dir, "old.raw");
    o.onStep?.("writing the disk-like file");
    await writeDiskLikeFile(old, o.sizeBytes, o.seed, DELTA_BENCH_MIX);
    syncFile(old);
    const baseImage = join(dir, "base.ndz");
    o.onStep?.("making the base image");
    const created = await createImage(old, baseImage, { level: o.level, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "segmented", jobs: 2 });
    o.onStep?.("making its signature");
    const repeat = o.repeat ?? REPEAT_DEFAULT;
    const sig = await leastOf(repeat, () => makeSignature(baseImage));
    const sigPath = join(dir, "base.ndz.sig");
    copyBytes(sigPath, signatureBytes(sig.value.signature));
    const sha1 = installed("sha1sum") ? (await leastOf(repeat, async () => run("sha1sum", [old], dir))).seconds : null;
    const sizeMiB = o.sizeBytes / MIB;
    const cases: DeltaCase[] = [];
    for (const name of DELTA_CASES) if (o.cases === undefined || o.cases.includes(name)) cases.push(await runCase(dir, old, baseImage, sigPath, name, o));
    return {
      sizeMiB, seed: o.seed, level: o.level, baseImageBytes: created.imageBytes,
      signature: { seconds: sig.seconds, mibPerSec: sizeMiB / sig.seconds, sha1sumMiBPerSec: sha1 === null ? null : sizeMiB / sha1, ratio: sha1 === null ? null : sizeMiB / sig.seconds / (sizeMiB / sha1) },
      cases,
    };
  } finally {
    removeScratchDir(dir);
  }
}

const CASE_WHAT: Record<DeltaCase["name"], (o: DeltaBenchOptions) => string> = {
  blocks: (o) => `${o.blockPct}% of the 64 KiB blocks rewritten at random`,
  rewrite: (o) => `one contiguous ${o.rewriteBytes / MIB} MiB rewrite`,
  none: () => "no change",
};

async function runCase(dir: string, old: string, baseImage: string, sigPath: string, name: DeltaCase["name"], o: DeltaBenchOptions): Promise<DeltaCase> {
  const next = join(dir, "new.raw");
  copyFileSync(old, next);
  const changedBytes = await edit(next, name, o);
  syncFile(next);
  o.onStep?.(`${name}: ours`);
  const ours = await oursFigures(dir, old, next, baseImage, sigPath, o);
  const baseline = (tool: string, body: () => Promise<ToolFigures>): Promise<ToolResult> => {
    if (!o.baselines) return Promise.resolve({ missing: "not run (--no-baselines)" });
    if (!installed(tool)) return Promise.resolve({ missing: `${tool} is not installed (apt-get install ${tool})` });
    o.onStep?.(`${name}: ${tool}`);
    return body();
  };
  const repeat = o.repeat ?? REPEAT_DEFAULT;
  const xdelta3 = await baseline("xdelta3", () => xdelta3Figures(dir, old, next, repeat));
  const rsync = await baseline("rsync", () => rsyncFigures(dir, old, next, repeat));
  const casync = await baseline("casync", () => casyncFigures(dir, old, next));
  const makes = [xdelta3, rsync, casync].flatMap((t) => ("missing" in t ? [] : [t.makeSec]));
  return {
    name, what: CASE_WHAT[name](o), changedBytes, ours, xdelta3, rsync, casync,
    sizeVsXdelta3: "missing" in xdelta3 ? null : ours.writtenBytes / Math.max(1, xdelta3.bytes),
    makeVsFastest: makes.length === 0 ? null : ours.makeSec / Math.min(...makes),
  };
}

/** Ours: the delta from the stored signature; applied over a copy of the old disk; and the full reload. */
async function oursFigures(dir: string, old: string, next: string, baseImage: string, sigPath: string, o: DeltaBenchOptions): Promise<DeltaCase["ours"]> {
  const out = join(dir, "ours.ndz");
  const made = await leastOf(o.repeat ?? REPEAT_DEFAULT, async () => makeDelta(await loadDeltaBase(sigPath), sigPath, next, out, { level: o.level, engine: nodeEngine, thresholdPercent: DELTA_THRESHOLD_PERCENT_DEFAULT, granularityBytes: 4096, fsAware: true }));
  const target = join(dir, "ours-applied.raw");
  copySynced(old, target);
  const applied = await timedAsync(() => reloadImage(out, null, target, { zeroFill: false, fixedSize: true }));
  const reproduced = sameFiles(target, next);
  const reloadTarget = join(dir, "ours-reloaded.raw");
  const reload = await timedAsync(() => reloadImage(baseImage, out, reloadTarget, { zeroFill: false }));
  const reloaded = sameFiles(reloadTarget, next);
  const st = statSync(out);
  return {
    bytes: st.size, writtenBytes: made.value.writtenBytes, storedBytes: st.blocks * 512, makeSec: made.seconds, applySec: applied.seconds, reproduced: reproduced && reloaded,
    kind: made.value.kind, dataBytes: made.value.dataBytes, reloadSec: reload.seconds,
  };
}

async function xdelta3Figures(dir: string, old: string, next: string, repeat: number): Promise<ToolFigures> {
  const delta = join(dir, "x.xd3");
  const out = join(dir, "x-applied.raw");
  const make = await leastOf(repeat, async () => run("xdelta3", ["-e", "-f", "-s", old, next, delta], dir));
  const apply = timed(() => run("xdelta3", ["-d", "-f", "-s", old, delta, out], dir));
  return { bytes: statSync(delta).size, makeSec: make.seconds, applySec: apply.seconds, reproduced: sameFiles(out, next) };
}

/** rsync's batch: the delta that turns the old file into the new one, replayed on a copy of the old. */
async function rsyncFigures(dir: string, old: string, next: string, repeat: number): Promise<ToolFigures> {
  const [src, dst, tgt] = ["rs-new", "rs-old", "rs-target"].map((d) => join(dir, d)) as [string, string, string];
  run("mkdir", ["-p", src, dst, tgt], dir);
  copySynced(next, join(src, "disk.raw"));
  copySynced(old, join(dst, "disk.raw"));
  copySynced(old, join(tgt, "disk.raw"));
  const batch = join(dir, "rs.batch");
  const make = await leastOf(repeat, async () => run("rsync", ["-I", "--no-whole-file", `--only-write-batch=${batch}`, join(src, "disk.raw"), join(dst, "disk.raw")], dir));
  const apply = timed(() => run("rsync", ["-I", `--read-batch=${batch}`, join(tgt, "disk.raw")], dir));
  const figures = { bytes: statSync(batch).size, makeSec: make.seconds, applySec: apply.seconds, reproduced: sameFiles(join(tgt, "disk.raw"), next) };
  run("rm", ["-rf", src, dst, tgt, batch, `${batch}.sh`], dir);
  return figures;
}

/** casync: the old disk's chunk store made first; the delta is what the new disk adds to it, and its index. */
async function casyncFigures(dir: string, old: string, next: string): Promise<ToolFigures> {
  const store = join(dir, "ca.castr");
  run("rm", ["-rf", store, join(dir, "old.caibx"), join(dir, "new.caibx")], dir);
  run("casync", ["make", `--store=${store}`, join(dir, "old.caibx"), old], dir);
  const before = storeBytes(store);
  const make = timed(() => run("casync", ["make", `--store=${store}`, join(dir, "new.caibx"), next], dir));
  const added = storeBytes(store) - before + statSync(join(dir, "new.caibx")).size;
  const out = join(dir, "ca-applied.raw");
  run("rm", ["-f", out], dir);
  const apply = timed(() => run("casync", ["extract", `--store=${store}`, `--seed=${old}`, join(dir, "new.caibx"), out], dir));
  return { bytes: added, makeSec: make.seconds, applySec: apply.seconds, reproduced: sameFiles(out, next) };
}

function storeBytes(store: string): number {
  const r = spawnSync("du", ["-sb", store], { encoding: "utf8" });
  return Number((r.stdout ?? "0").split(/\s/)[0]);
}

function copyBytes(path: string, bytes: Uint8Array): void {
  writeFileSync(path, bytes);
}
