import type { Command } from "commander";
import { GRANULARITIES_BYTES } from "../core/image/scan.js";
import type { ImageBenchResult } from "../real/image/bench.js";
import type { CreateOptions } from "../real/image/create.js";
import { JOBS_MAX, UNZIP_IN_FLIGHT_DEFAULT } from "../real/image/defaults.js";
import { ImageIoError } from "../real/image/errors.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";
import { readKeyFlag } from "./key-flag.js";
import { EXIT_FAILED, exitCleanlyOnInterrupt } from "./interrupt.js";
import { progressBar } from "./progress.js";

/*
 * The code behind each command is imported when the command runs (a dynamic import in its action):
 * building the program loads only what the help shows, so `testbed image unzip` loads the reload
 * code and not the image writer, the benchmarks or the store (issue 12).
 */

const MIB = 2 ** 20;
/** Measured (README, "Images"): 4 KiB finds nearly all the free space 512 B does, in fewer regions. */
const GRANULARITY_DEFAULT = "4096";

interface CreateFlags {
  level: string;
  granularity: string;
  raw?: boolean;
  compat?: boolean;
  jobs: string;
  json?: boolean;
}

/** `testbed image create|info|unzip` and `testbed bench image`. */
export function registerImageCommands(program: Command, groups: { bench: Command }): void {
  const image = program.command("image").description("chunked disk images in the original imagezip format (.ndz)");
  image
    .command("create")
    .description("compress a file or block device into an image, skipping all-zero free space")
    .argument("<source>", "file or block device to read")
    .argument("<image>", "image file to write")
    .option("-z, --level <n>", "zlib compression level, 0 to 9", "4")
    .option("--granularity <bytes>", "free-space detection: all-zero blocks of 512 or 4096 bytes are skipped", GRANULARITY_DEFAULT)
    .option("-f, --raw", "compress everything, zeros included (imagezip -f)")
    .option("--compat", "reproduce the original imagezip's bytes: upstream zlib (pako), one sequential stream (slower)")
    .option("-j, --jobs <n>", "segments compressed at once, on separate cores", "2")
    .option("--json", "print the outcome as one JSON object")
    .addHelpText("after", "\nExample:\n  testbed image create /dev/sdb disk.ndz -z 4 --json")
    .action((source: string, target: string, flags: CreateFlags) => {
      const o = createFlags(flags);
      void runCreate(source, target, o, flags);
    });

  image
    .command("info")
    .description("chunks, regions, sizes and ratios of an image, as imagedump reports them")
    .argument("<image>", "image file")
    .option("-d, --detail", "a line per chunk; twice, a line per region", (_v: string, n: number) => n + 1, 0)
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed image info disk.ndz -d -d")
    .action((path: string, flags: { detail: number; json?: boolean }) => {
      void runAsync(async () => {
        const [{ readImageHeaders }, { formatImageStats, imageStats }] = await Promise.all([import("../real/image/headers.js"), import("../core/image/info.js")]);
        const { imageBytes, headers } = await readImageHeaders(path);
        const stats = imageStats(imageBytes, headers);
        if (flags.json) console.log(JSON.stringify(flags.detail > 0 ? stats : { ...stats, chunkList: undefined }));
        else process.stdout.write(formatImageStats(path, stats, flags.detail));
      });
    });

  image
    .command("unzip")
    .description("restore an image onto a file or block device, then a delta over it (checked to be made against that image); a corrupt chunk stops it, named")
    .argument("<images...>", "BASE [DELTA] TARGET: the image, optionally a delta made against it, and the file or block device to write")
    .option("--zero-fill", "write zeros over the base's free space (else it is left as it is)")
    .option("--fixed-size", "write into an existing file in place, as a disk of its present size (else a file is replaced whole on success)")
    .option("--key <file>", "the image's signing key (.skey): verify signed chunks (else: signed, not verified)")
    .option("--offset-sectors <n>", "write the image this many sectors into the target (a slice); relocations follow it", "0")
    .option("--json", "print the outcome as one JSON object")
    .addHelpText("after", "\nEverything that can be checked is checked before the first byte is written: a delta on the wrong base, a damaged delta, a\ndamaged checksummed chunk. A file target appears whole or not at all. A block device (or a file with --fixed-size) is\nwritten in place; if that stops part way (a corrupt version-3 chunk, Ctrl-C), the command says the target is incomplete\nand exits 3.\n\nExample:\n  testbed image unzip disk.ndz /dev/sdb --zero-fill\n  testbed image unzip disk.ndz node7.delta.ndz /dev/sdb")
    .action((images: string[], flags: { zeroFill?: boolean; fixedSize?: boolean; key?: string; offsetSectors: string; json?: boolean }) => {
      if (images.length < 2 || images.length > 3) throw new UsageError(`unzip: expected BASE [DELTA] TARGET, got ${images.length} argument${images.length === 1 ? "" : "s"}`);
      const [base, delta, target] = images.length === 3 ? (images as [string, string, string]) : [images[0]!, null, images[1]!];
      const offsetSectors = parseWhole("--offset-sectors", flags.offsetSectors, 0, 0xffff_ffff);
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const key = readKeyFlag(flags.key);
        const { reloadImage } = await import("../real/image/reload.js");
        const bar = progressBar("unzip");
        const started = performance.now();
        const r = await reloadImage(base, delta, target, {
          zeroFill: flags.zeroFill === true, fixedSize: flags.fixedSize === true, offsetSectors, ...(key === undefined ? {} : { key }),
          inFlight: UNZIP_IN_FLIGHT_DEFAULT, onProgress: (done, all) => bar.update(done / all, `chunk ${done}/${all}`),
        });
        bar.done();
        const seconds = (performance.now() - started) / 1000;
        if (flags.json) console.log(JSON.stringify({ ...r, seconds }));
        else {
          const layers = r.layers === "full" ? `${delta} (a full image saved in a delta's place; the base is not needed)` : r.layers === "base+delta" ? `${base} + ${delta}` : base;
          const signed = r.checks["signed-not-verified"] > 0 ? "; signed, not verified (no --key)" : r.checks.signature > 0 ? "; signatures verified" : r.checks.sha1 > 0 ? "; checksums verified" : "";
          console.log(`${target}: ${layers}: ${r.chunks} chunks, ${r.dataBytes} bytes of data${r.zeroBytes > 0 ? ` and ${r.zeroBytes} of zeros` : ""} written (disk ${r.diskBytes} bytes)${signed}${r.relocations > 0 ? `; ${r.relocations} relocations` : ""} in ${seconds.toFixed(2)} s`);
        }
      });
    });

  groups.bench
    .command("image")
    .description("image create and unzip throughput on a disk-like file, against plain zlib inflate and write")
    .option("--size-mib <n>", "size of the disk-like file", "256")
    .option("--seed <n>", "seed of the disk-like file", "1")
    .option("--dir <path>", "folder to make the scratch folder in (default: the system's temporary folder); removed after")
    .option("-z, --level <n>", "zlib compression level", "4")
    .option("-j, --jobs <n>", "segments compressed at once", "2")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed bench image --size-mib 256 --json")
    .action((flags: { sizeMib: string; seed: string; dir?: string; level: string; jobs: string; json?: boolean }) => {
      const options = {
        sizeBytes: parseWhole("--size-mib", flags.sizeMib, 1, 1 << 20) * MIB,
        seed: parseWhole("--seed", flags.seed, 0, 0xffff_ffff),
        level: parseWhole("--level", flags.level, 0, 9),
        jobs: parseWhole("--jobs", flags.jobs, 1, JOBS_MAX),
        ...(flags.dir === undefined ? {} : { dir: flags.dir }),
      };
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const { runImageBench } = await import("../real/image/bench.js");
        const r = await runImageBench(options);
        if (flags.json) console.log(JSON.stringify(r));
        else printBench(r);
        // A restore that is not the disk makes every figure meaningless: the run failed.
        if (r.restoredIdentical) return;
        console.error("testbed: bench image: the unzipped disk differs from the disk-like file");
        return EXIT_FAILED;
      });
    });
}

type ParsedCreate = Omit<CreateOptions, "engine">;

function createFlags(f: CreateFlags): ParsedCreate {
  const granularityBytes = parseWhole("--granularity", f.granularity, 0);
  if (!GRANULARITIES_BYTES.includes(granularityBytes)) throw new UsageError(`--granularity: expected 512 or 4096, got "${f.granularity}"`);
  return {
    level: parseWhole("--level", f.level, 0, 9),
    granularityBytes,
    skipFree: f.raw !== true,
    layout: f.compat ? "sequential" : "segmented",
    version: f.compat ? 3 : 4,
    jobs: f.compat ? 1 : parseWhole("--jobs", f.jobs, 1, JOBS_MAX),
  };
}

async function runCreate(source: string, target: string, o: ParsedCreate, flags: CreateFlags): Promise<void> {
  await runAsync(async () => {
    exitCleanlyOnInterrupt();
    const [{ createImage }, { loadCompatEngine, nodeEngine }] = await Promise.all([import("../real/image/create.js"), import("../real/image/deflater.js")]);
    const engine = flags.compat ? await loadCompatEngine() : nodeEngine;
    if (engine === null) throw new ImageIoError("--compat needs the pako package (npm install pako)");
    const bar = progressBar("create");
    const started = performance.now();
    const r = await createImage(source, target, { ...o, engine, onProgress: (done, all) => bar.update(all === 0 ? 1 : done / all, `${(done / MIB).toFixed(0)} MiB`) });
    bar.done();
    const seconds = (performance.now() - started) / 1000;
    const mibPerSec = r.inputBytes / MIB / Math.max(seconds, 1e-9);
    if (flags.json) console.log(JSON.stringify({ ...r, seconds, mibPerSec, level: o.level, granularityBytes: o.granularityBytes, engine: engine.name, layout: o.layout }));
    else {
      const ratio = r.compressedBytes > 0 ? (r.allocatedBytes / r.compressedBytes).toFixed(2) : "-";
      console.log(`${target}: ${r.chunks} chunks, ${r.regions} regions; ${r.allocatedBytes} of ${r.inputBytes} bytes allocated, ${ratio}x compressed; ${seconds.toFixed(2)} s (${mibPerSec.toFixed(1)} MiB/s)`);
    }
  });
}

function printBench(r: ImageBenchResult): void {
  const f = (v: number): string => v.toFixed(1).padStart(7);
  console.log(`disk-like file: ${r.sizeMiB} MiB, seed ${r.seed} (${(r.allocatedBytes / MIB).toFixed(1)} MiB allocated), image ${(r.imageBytes / MIB).toFixed(1)} MiB in ${r.chunks} chunks`);
  console.log(`image create (level ${r.level}, ${r.jobs} jobs):        ${f(r.createMiBs)} MiB/s`);
  console.log(`image create (1 job):                  ${f(r.createOneJobMiBs)} MiB/s`);
  console.log(`image unzip:                           ${f(r.unzipMiBs)} MiB/s${r.restoredIdentical ? " (restored disk identical)" : "  RESTORED DISK DIFFERS"}`);
  console.log(`plain zlib inflate + write (1 stream): ${f(r.plainInflateWriteMiBs)} MiB/s`);
  console.log(`unzip / plain:                         ${r.unzipVsPlain.toFixed(2).padStart(7)}`);
}
