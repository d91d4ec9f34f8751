import type { Command } from "commander";
import { DELTA_CASES, DELTA_THRESHOLD_PERCENT_DEFAULT, REPEAT_DEFAULT, REPEAT_UNDER_SEC } from "../real/image/defaults.js";
import type { DeltaBenchResult, DeltaCase, ToolResult } from "../real/image/delta-bench.js";
import { DEFAULT_STORE_PATH } from "../real/store/default-path.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import { readKeyFlag } from "./key-flag.js";
import { progressBar } from "./progress.js";

/*
 * As in image-command.ts, the code behind each command is imported when it runs: `testbed image
 * unzip` builds these commands too, and must not load the delta maker, the store or the bench.
 */

const MIB = 2 ** 20;
const DIR_DEFAULT = "./disk-state";

const checksSaid = (checks: Record<string, number>): string => {
  if (checks["signed-not-verified"]! > 0) return "signed, not verified (no --key)";
  if (checks.signature! > 0) return "signatures verified";
  if (checks.sha1! > 0) return "checksums verified";
  return "no checksums (version 3 or older)";
};

/** `image sig`, `image delta`, `image gc`, `swapout-node`, `swapin-node` and `bench delta`. */
export function registerDiskStateCommands(program: Command, groups: { bench: Command }): void {
  const image = program.commands.find((c) => c.name() === "image");
  if (image === undefined) throw new Error("registerDiskStateCommands: register the image commands first");
  registerSig(image);
  registerDelta(image);
  image
    .command("gc")
    .description("remove the signatures of images no node holds and the deltas no node carries (from the store's records)")
    .option("--dry-run", "list them, remove nothing")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed image gc --dry-run")
    .action((f: { dryRun?: boolean; db: string; json?: boolean }) => {
      void runAsync(async () => {
        const { collectGarbage } = await import("../real/image/swap.js");
        const r = collectGarbage(f.db, f.dryRun === true);
        if (f.json) console.log(JSON.stringify(r));
        else {
          const verb = r.dryRun ? "would remove" : "removed";
          for (const s of r.signatures) console.log(`${verb} signature ${s.path} (image ${s.image.slice(0, 16)}...: no node holds it)`);
          for (const d of r.deltas) console.log(`${verb} delta ${d.path} (${d.bytes} bytes: no node carries it)`);
          console.log(`${verb} ${r.signatures.length} signatures and ${r.deltas.length} deltas, ${(r.bytes / MIB).toFixed(1)} MiB`);
        }
      });
    });
  registerSwapNode(program);
  registerBenchDelta(groups.bench);
}

function registerSig(image: Command): void {
  image
    .command("sig")
    .description("make an image's signature (.ndzsig, read by the original imagehash) from the image alone: a hash per 64 KiB piece of its data")
    .argument("<image>", "image file")
    .option("-o, --output <sig>", "signature file (default: <image>.sig)")
    .option("--sha256", "SHA-256 pieces (truncated to the 20 bytes an entry holds; the original does not read them) instead of SHA-1")
    .option("--region-aligned", "count pieces from each region's start, as the 2011 imagehash does by default (else aligned to absolute 64 KiB offsets)")
    .option("--key <file>", "the image's signing key (.skey): verify signed chunks")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed image sig disk.ndz -o disk.ndz.sig")
    .action((path: string, f: { output?: string; sha256?: boolean; regionAligned?: boolean; key?: string; json?: boolean }) => {
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const key = readKeyFlag(f.key);
        const out = f.output ?? `${path}.sig`;
        const [{ HASH_TYPE_SHA1, HASH_TYPE_SHA256 }, { makeSignature, signatureBytes }, { writeOutputFileSync }] = await Promise.all([
          import("../core/image/signature.js"), import("../real/image/signature.js"), import("../real/output/output.js"),
        ]);
        const bar = progressBar("sig");
        const started = performance.now();
        const r = await makeSignature(path, { hashType: f.sha256 ? HASH_TYPE_SHA256 : HASH_TYPE_SHA1, alignment: f.regionAligned ? "region" : "absolute", ...(key === undefined ? {} : { key }), onProgress: (d, n) => bar.update(d / n, `chunk ${d}/${n}`) });
        bar.done();
        writeOutputFileSync(out, signatureBytes(r.signature), { inputs: [path], what: "signature" });
        const seconds = (performance.now() - started) / 1000;
        const mibs = r.dataBytes / MIB / Math.max(seconds, 1e-9);
        if (f.json) console.log(JSON.stringify({ signature: out, pieces: r.signature.entries.length, dataBytes: r.dataBytes, checks: r.checks, seconds, mibPerSec: mibs, imageId: Buffer.from(r.signature.identity!.imageId).toString("hex") }));
        else console.log(`${out}: ${r.signature.entries.length} pieces over ${(r.dataBytes / MIB).toFixed(1)} MiB of data; chunks: ${checksSaid(r.checks)}; ${seconds.toFixed(2)} s (${mibs.toFixed(0)} MiB/s)`);
      });
    });
}

interface DeltaFlags {
  base: string;
  thresholdPct: string;
  level: string;
  ignoreFs?: boolean;
  key?: string;
  json?: boolean;
}

function registerDelta(image: Command): void {
  image
    .command("delta")
    .description("make one cumulative delta of a disk against its base (a signature made by testbed image sig, or the image): new and changed ranges in, freed ones out")
    .requiredOption("--base <sig|image>", "the base image's signature, or the image itself")
    .argument("<disk>", "file or block device to save")
    .argument("<out>", "delta file to write (an ordinary .ndz: the original imageunzip lays it over its base)")
    .option("--threshold-pct <p>", "above this share of a full image, write a full image instead", String(DELTA_THRESHOLD_PERCENT_DEFAULT))
    .option("-z, --level <n>", "zlib compression level, 0 to 9", "4")
    .option("--ignore-fs", "do not read ext2/3/4 bitmaps: every all-zero block is free")
    .option("--key <file>", "the base image's signing key (.skey), when the base is a signed image")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed image delta --base disk.ndz.sig /dev/sdb node7.delta.ndz")
    .action((disk: string, out: string, f: DeltaFlags) => {
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const threshold = parseWhole("--threshold-pct", f.thresholdPct, 0, 100);
        const level = parseWhole("--level", f.level, 0, 9);
        const key = readKeyFlag(f.key);
        const [{ loadDeltaBase, makeDelta }, { nodeEngine }] = await Promise.all([import("../real/image/delta.js"), import("../real/image/deflater.js")]);
        const bar = progressBar("delta");
        const started = performance.now();
        const base = await loadDeltaBase(f.base, key);
        const r = await makeDelta(base, f.base, disk, out, { level, engine: nodeEngine, thresholdPercent: threshold, granularityBytes: 4096, fsAware: f.ignoreFs !== true, onProgress: (d, n) => bar.update(d / n, `${(d / MIB).toFixed(0)} MiB`) });
        bar.done();
        const seconds = (performance.now() - started) / 1000;
        if (f.json) console.log(JSON.stringify({ ...r, out, seconds }));
        else {
          for (const note of r.notes) console.log(`${disk}: ${note}`);
          const what = r.kind === "delta" ? `delta of ${(r.share * 100).toFixed(1)}% of a full image` : `FULL IMAGE instead of a delta: the delta would be over ${threshold}% of a full image`;
          console.log(`${out}: ${what}; ${(r.dataBytes / MIB).toFixed(1)} MiB of data in ${r.chunks} chunks (${(r.imageBytes / MIB).toFixed(1)} MiB); base ${r.baseId}; ${seconds.toFixed(2)} s`);
        }
      });
    });
}

function registerSwapNode(program: Command): void {
  program
    .command("swapout-node")
    .description("save one node's disk state: the delta of its disk against the image the store says it was loaded from, recorded in the store")
    .requiredOption("--node <name>", "node name")
    .requiredOption("--disk <path>", "the node's disk (file or block device)")
    .option("--partition <n>", "partition number", "1")
    .option("--dir <path>", "folder for deltas and signatures", DIR_DEFAULT)
    .option("--timeout-sec <s>", "give up (recording nothing) after this long", "3600")
    .option("--threshold-pct <p>", "above this share of a full image, save a full image instead", String(DELTA_THRESHOLD_PERCENT_DEFAULT))
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed swapout-node --node pc7 --disk /dev/sdb --dir /srv/deltas")
    .action((f: { node: string; disk: string; partition: string; dir: string; timeoutSec: string; thresholdPct: string; db: string; json?: boolean }) => {
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const { swapOutNode } = await import("../real/image/swap.js");
        const bar = progressBar("swapout");
        const r = await swapOutNode({
          db: f.db, node: f.node, partition: parseWhole("--partition", f.partition, 1, 128), disk: f.disk, dir: f.dir, timeoutMs: parseWhole("--timeout-sec", f.timeoutSec, 1, 86_400 * 7) * 1000,
          thresholdPercent: parseWhole("--threshold-pct", f.thresholdPct, 0, 100), onProgress: (d, n) => bar.update(d / n, `${(d / MIB).toFixed(0)} MiB`),
        });
        bar.done();
        if (f.json) console.log(JSON.stringify(r));
        else console.log(`${f.node} partition ${r.partition}: ${r.kind === "delta" ? "delta" : "FULL IMAGE (delta over the threshold)"} ${r.delta}, ${(r.dataBytes / MIB).toFixed(1)} MiB of data against ${r.image}; ${r.seconds.toFixed(2)} s`);
      });
    });
  program
    .command("swapin-node")
    .description("restore one node's disk: the image it holds plus its delta (or a fresh --image), recorded in the store")
    .requiredOption("--node <name>", "node name")
    .requiredOption("--target <path>", "the node's disk (file or block device)")
    .option("--image <path>", "load this image afresh (the node's saved delta is dropped)")
    .option("--loaded <path>", "the target holds this image already (loaded by frisbee): checked to be the one the store names, only the node's delta is laid over it, in place")
    .option("--partition <n>", "partition number", "1")
    .option("--dir <path>", "folder for signatures", DIR_DEFAULT)
    .option("--zero-fill", "write zeros over the base's free space")
    .option("--fixed-size", "write into an existing file in place, as a disk of its present size")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  testbed swapin-node --node pc7 --target /dev/sdb")
    .action((f: { node: string; target: string; image?: string; loaded?: string; partition: string; dir: string; zeroFill?: boolean; fixedSize?: boolean; db: string; json?: boolean }) => {
      if (f.loaded !== undefined && f.zeroFill === true) throw new UsageError("--loaded lays the delta alone: the zeros over free space come with the image's load (frisbee --zero-fill)");
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const { swapInNode } = await import("../real/image/swap.js");
        const bar = progressBar("swapin");
        const r = await swapInNode({
          db: f.db, node: f.node, partition: parseWhole("--partition", f.partition, 1, 128), target: f.target, dir: f.dir, zeroFill: f.zeroFill === true, fixedSize: f.fixedSize === true,
          ...(f.image === undefined ? {} : { image: f.image }), ...(f.loaded === undefined ? {} : { loaded: f.loaded }), onProgress: (d, n) => bar.update(d / n, `chunk ${d}/${n}`),
        });
        bar.done();
        if (f.json) console.log(JSON.stringify(r));
        else console.log(`${f.node} partition ${r.partition}: ${f.loaded !== undefined ? `(${r.image} in place)` : r.image}${r.delta === null ? "" : ` + ${r.delta}`} -> ${f.target} (${r.reload.layers}); ${r.seconds.toFixed(2)} s`);
      });
    });
}

function registerBenchDelta(bench: Command): void {
  bench
    .command("delta")
    .description("delta size and time to make and apply on a disk-like file, beside xdelta3, an rsync batch and casync; signature speed beside sha1sum")
    .option("--size-mib <n>", "size of the disk-like file", "1024")
    .option("--seed <n>", "seed of the file and its edits", "1")
    .option("--block-pct <p>", "case 1: share of the 64 KiB blocks rewritten", "5")
    .option("--rewrite-mib <n>", "case 2: one contiguous rewrite", "100")
    .option("-z, --level <n>", "zlib level for the images and deltas", "4")
    .option("--dir <path>", "folder to make the scratch folder in (default: the system's temporary folder); removed after")
    .option("--no-baselines", "only ours (xdelta3, rsync and casync are not run)")
    .option("--cases <list>", `which edits, comma-separated (${DELTA_CASES.join(",")})`, DELTA_CASES.join(","))
    .option("--repeat <n>", `runs of a make that takes under ${REPEAT_UNDER_SEC} s (the least is kept)`, String(REPEAT_DEFAULT))
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed bench delta --size-mib 1024 --json")
    .action((f: { sizeMib: string; seed: string; blockPct: string; rewriteMib: string; level: string; dir?: string; baselines: boolean; cases: string; repeat: string; json?: boolean }) => {
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const sizeBytes = parseWhole("--size-mib", f.sizeMib, 1, 1 << 20) * MIB;
        const rewriteBytes = parseWhole("--rewrite-mib", f.rewriteMib, 1, 1 << 20) * MIB;
        if (rewriteBytes > sizeBytes) throw new UsageError(`--rewrite-mib: ${f.rewriteMib} MiB does not fit a ${f.sizeMib} MiB disk`);
        const { runDeltaBench } = await import("../real/image/delta-bench.js");
        const bar = progressBar("bench delta");
        const r = await runDeltaBench({
          sizeBytes, seed: parseWhole("--seed", f.seed, 0, 0xffff_ffff), blockPct: parseWhole("--block-pct", f.blockPct, 0, 100), rewriteBytes, level: parseWhole("--level", f.level, 0, 9),
          baselines: f.baselines, cases: parseCases(f.cases), repeat: parseWhole("--repeat", f.repeat, 1, 100), ...(f.dir === undefined ? {} : { dir: f.dir }), onStep: (s) => bar.update(0, s),
        });
        bar.done();
        if (f.json) console.log(JSON.stringify(r));
        else printDeltaBench(r);
        return r.cases.every((c) => c.ours.reproduced && [c.xdelta3, c.rsync, c.casync].every((t) => "missing" in t || t.reproduced)) ? 0 : 1;
      });
    });
}

function parseCases(text: string): DeltaCase["name"][] {
  const names = text.split(",").map((c) => c.trim());
  for (const c of names) if (!(DELTA_CASES as readonly string[]).includes(c)) throw new UsageError(`--cases: '${c}' is not one of ${DELTA_CASES.join(", ")}`);
  return names as DeltaCase["name"][];
}

function printDeltaBench(r: DeltaBenchResult): void {
  console.log(`disk-like file: ${r.sizeMiB} MiB (a third random, a third zeros, a third text), seed ${r.seed}; base image ${(r.baseImageBytes / MIB).toFixed(1)} MiB`);
  const s = r.signature;
  console.log(`signature of the base image: ${s.mibPerSec.toFixed(0)} MiB/s of disk${s.sha1sumMiBPerSec === null ? "" : `; sha1sum of the disk: ${s.sha1sumMiBPerSec.toFixed(0)} MiB/s (ratio ${s.ratio!.toFixed(2)})`}`);
  const cell = (t: ToolResult): string => ("missing" in t ? `- (${t.missing})` : `${(t.bytes / MIB).toFixed(2)} MiB  make ${t.makeSec.toFixed(2)} s  apply ${t.applySec.toFixed(2)} s${t.reproduced ? "" : "  WRONG RESULT"}`);
  for (const c of r.cases) {
    console.log(`\n${c.what} (${(c.changedBytes / MIB).toFixed(1)} MiB written):`);
    console.log(`  ours     ${(c.ours.writtenBytes / MIB).toFixed(2)} MiB (${(c.ours.bytes / MIB).toFixed(0)} MiB with the chunks' zero padding, ${(c.ours.storedBytes / MIB).toFixed(2)} MiB on disk; ${c.ours.kind})  make ${c.ours.makeSec.toFixed(2)} s  apply ${c.ours.applySec.toFixed(2)} s  base+delta reload ${c.ours.reloadSec.toFixed(2)} s${c.ours.reproduced ? "" : "  WRONG RESULT"}`);
    console.log(`  xdelta3  ${cell(c.xdelta3)}`);
    console.log(`  rsync    ${cell(c.rsync)}`);
    console.log(`  casync   ${cell(c.casync)}`);
    if (c.sizeVsXdelta3 !== null || c.makeVsFastest !== null) console.log(`  ours / xdelta3 size: ${c.sizeVsXdelta3?.toFixed(3) ?? "-"}; ours / fastest make: ${c.makeVsFastest?.toFixed(3) ?? "-"}`);
  }
}
