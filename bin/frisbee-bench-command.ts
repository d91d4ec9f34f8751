import type { Command } from "commander";
import { runFrisbeeBench, type FrisbeeBenchResult, type Timing } from "../real/frisbee/bench.js";
import type { PartsResult } from "../real/frisbee/bench-parts.js";
import { parseRateBps } from "../scenarios/units.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";

const MIB = 2 ** 20;

/** `testbed bench frisbee`: our frisbeed/frisbee against udpcast on loopback multicast. */
export function registerFrisbeeBench(bench: Command): void {
  bench
    .command("frisbee")
    .description("load a disk-like file onto 1 and then 2 receivers over loopback multicast, then with udpcast (udp-sender --rexmit-hello-interval 10); print times, ratios and the machine's limit")
    .option("--size-mib <n>", "size of the disk-like file", "256")
    .option("--seed <n>", "seed of the disk-like file", "1")
    .option("--bandwidth <rate>", "frisbeed's bandwidth target", "2Gbit")
    .option("--port <n>", "UDP port (udpcast uses the two after it)", "7940")
    .option("--dir <path>", "folder to make the scratch folder in (default: the system's temporary folder); removed after")
    .option("--no-parts", "skip measuring each part of the machine alone (server send, receive, inflate, writes)")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed bench frisbee --size-mib 256 --bandwidth 2Gbit")
    .action((flags: { sizeMib: string; seed: string; bandwidth: string; port: string; dir?: string; parts: boolean; json?: boolean }) => {
      const bps = parseRateBps(flags.bandwidth);
      if (bps === null || !(bps > 0)) throw new UsageError(`--bandwidth: expected a rate such as 72Mbit or 2Gbit, got "${flags.bandwidth}"`);
      const options = {
        sizeBytes: parseWhole("--size-mib", flags.sizeMib, 1, 1 << 16) * MIB,
        seed: parseWhole("--seed", flags.seed, 0, 0xffff_ffff),
        bandwidth: flags.bandwidth,
        bandwidthBps: bps,
        parts: flags.parts,
        port: parseWhole("--port", flags.port, 1, 65_533),
        log: (line: string) => process.stderr.write(`bench: ${line}\n`),
        ...(flags.dir === undefined ? {} : { dir: flags.dir }),
      };
      void runAsync(async () => {
        exitCleanlyOnInterrupt();
        const r = await runFrisbeeBench(options);
        if (flags.json) console.log(JSON.stringify(r));
        else print(r);
      });
    });
}

function print(r: FrisbeeBenchResult): void {
  const drops = (t: Timing): string => (t.rcvbufErrors === null ? "" : `  ${String(t.rcvbufErrors).padStart(6)} rcvbuf drops`);
  const cpu = (t: Timing): string => (t.cpuSec === null ? "" : `  CPU ${Object.entries(t.cpuSec).map(([name, sec]) => `${name} ${sec.toFixed(2)}`).join(" + ")} = ${(t.cpuTotalSec ?? 0).toFixed(2)} s`);
  const row = (name: string, t: Timing, withCpu = true): string =>
    `${name.padEnd(28)} ${t.seconds.toFixed(2).padStart(7)} s  ${t.mibPerSec.toFixed(1).padStart(7)} MiB/s  load ${t.load1.toFixed(1).padStart(4)}${drops(t)}${withCpu ? cpu(t) : ""}${t.identical ? "" : "  TARGET DIFFERS"}`;
  console.log(`disk ${r.sizeMiB} MiB, image ${r.imageMiB.toFixed(1)} MiB in ${r.chunks} chunks; wall time from launching the receivers to the last one done`);
  console.log("(load: the host's 1-minute load average at the end of the run; rcvbuf drops: the host's UDP RcvbufErrors during it; CPU: user + system seconds of each process)");
  console.log(row("frisbee, 1 receiver", r.ours1));
  console.log(row("frisbee, 2 receivers", r.ours2));
  if (r.udpcast !== null) {
    console.log(row("udpcast, 1 receiver", r.udpcast.receiver));
    console.log(row("udpcast's sender, to its exit", r.udpcast.sender, false));
  } else console.log(`udpcast: skipped: ${r.udpcastMissing}`);
  console.log(row("limit (local image unzip)", r.limit));
  if (r.ratioVsUdpcast !== null && r.ratioVsUdpcastSender !== null) {
    console.log(`ours / udpcast:  ${r.ratioVsUdpcast.toFixed(2)} (its receiver, 1 receiver; below 1 is faster; the target is 0.5); ${r.ratioVsUdpcastSender.toFixed(2)} against its sender`);
  }
  if (r.cpuRatioVsUdpcast !== null) console.log(`ours / udpcast by CPU seconds: ${r.cpuRatioVsUdpcast.toFixed(2)}`);
  console.log(`2 / 1 receivers: ${r.twoVsOne.toFixed(2)}`);
  console.log(`ours reach ${(r.fractionOfLimit * 100).toFixed(0)}% of the limit (limit time / our time)`);
  if (r.parts !== null) printParts(r.parts);
}

function printParts(p: PartsResult): void {
  const cpuOf = (us: number | null): string => (us === null ? "?" : `${(us / 1e6).toFixed(2)} s`);
  console.log(`each part alone, in a process of its own (${p.blocks.toLocaleString("en-US")} datagrams of the image; seconds for the whole image alone):`);
  const s = p.send;
  console.log(`  send     our frisbeed to nobody: ${s.items.toLocaleString("en-US")} datagrams in ${s.wallSec.toFixed(2)} s = ${Math.round(s.items / s.wallSec).toLocaleString("en-US")}/s, CPU ${cpuOf(s.cpuUs)}, ${p.sendCpuUsPerDatagram.toFixed(1)} us per datagram  -> ${p.aloneSec.send.toFixed(2)} s`);
  const r = p.receive;
  console.log(`  receive a receiver's event loop (no inflate, no writes): ${r.items.toLocaleString("en-US")} datagrams in ${r.wallSec.toFixed(2)} s, CPU ${cpuOf(r.cpuUs)}, ${p.receiveCpuUsPerDatagram.toFixed(1)} us per datagram = ${Math.round(1e6 / p.receiveCpuUsPerDatagram).toLocaleString("en-US")}/s of a core  -> ${p.aloneSec.receive.toFixed(2)} s`);
  const i = p.inflate;
  console.log(`  inflate every chunk on the worker thread: ${i.items} chunks to ${(i.bytes / 2 ** 20).toFixed(0)} MiB in ${i.wallSec.toFixed(2)} s, CPU ${cpuOf(i.cpuUs)}  -> ${p.aloneSec.inflate.toFixed(2)} s`);
  const w = p.write;
  console.log(`  write    the client's writes: ${(w.bytes / 2 ** 20).toFixed(0)} MiB in ${w.items} writes (free space left as holes), ${w.wallSec.toFixed(2)} s with the final fsync's ${(w.syncSec ?? 0).toFixed(2)} s, CPU ${cpuOf(w.cpuUs)}  -> ${p.aloneSec.write.toFixed(2)} s`);
  const datagramsSec = (p.blocks * (p.sendCpuUsPerDatagram + p.receiveCpuUsPerDatagram)) / 1e6;
  const allSec = p.aloneSec.cpu * p.cores;
  console.log(`  cpu      all of them on ${p.cores} cores: ${allSec.toFixed(2)} s of CPU, ${((100 * datagramsSec) / allSec).toFixed(0)}% of it sending and receiving datagrams  -> ${p.aloneSec.cpu.toFixed(2)} s`);
  console.log(`the limit: ${p.limit} (${p.aloneSec[p.limit].toFixed(2)} s for the image; wall figures on a loaded host include waiting for a core)`);
}
