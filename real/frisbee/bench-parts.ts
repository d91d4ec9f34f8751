import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PartArgs, PartFigures, PartName } from "./bench-part.js";
import { FrisbeeBenchError } from "./errors.js";
import type { Run } from "./bench.js";
import { builtModuleUrl } from "../runtime/built-module.js";

export type { PartFigures, PartName };

/** What a limit can be: a part of the machine alone, or all of them sharing the cores. */
export type LimitName = PartName | "cpu";

export interface PartsResult {
  send: PartFigures;
  receive: PartFigures;
  inflate: PartFigures;
  write: PartFigures;
  /** The image's blocks: the datagrams one load takes at the least. */
  blocks: number;
  /** CPU microseconds per datagram: the server's and the receiver's (its process does nothing else: no inflate, no writes). */
  sendCpuUsPerDatagram: number;
  receiveCpuUsPerDatagram: number;
  /**
   * Seconds each part would take for the whole image alone: the server's send time, the receiver's
   * CPU for every block (as if it had a core of its own: its wall time is the server's pace), the
   * inflate worker's and the writes' wall times; `cpu` is all their CPU spread over the host's
   * cores (in a load they all run at once).
   */
  aloneSec: Record<LimitName, number>;
  cores: number;
  /** The largest of aloneSec: what the load cannot go faster than. */
  limit: LimitName;
}

export interface PartsContext {
  dir: string;
  image: string;
  imageBlocks: number;
  group: string;
  port: number;
  iface: string;
  bandwidthBps: number;
  log: (line: string) => void;
  run: (command: string, args: string[]) => Run;
  /** Starts our frisbeed on the context's group and port (the receive part's sender). */
  startServer: () => Promise<Run>;
}

/**
 * Each part of the real path measured alone, each in a process of its own, one after another: our
 * server sending the image to nobody, a receiver's event loop taking it from our server (inflate
 * and writes skipped), the inflate worker on every chunk, and the writes of the whole disk.
 */
export async function runParts(c: PartsContext): Promise<PartsResult> {
  const args = (part: PartName): PartArgs => ({ part, image: c.image, group: c.group, port: c.port, iface: c.iface, bandwidthBps: c.bandwidthBps, target: join(c.dir, "part-write.raw") });
  c.log("parts: our frisbeed alone, sending the whole image to nobody");
  const send = await part(c, args("send"));
  c.log("parts: a receiver's event loop alone (inflate and writes skipped), from our frisbeed");
  const server = await c.startServer();
  let receive: PartFigures;
  try {
    receive = await part(c, args("receive"));
  } finally {
    server.kill("SIGTERM");
    await server.exited;
  }
  c.log("parts: inflate of every chunk on the client's worker thread");
  const inflate = await part(c, args("inflate"));
  c.log("parts: the client's writes of the whole disk, synced");
  const write = await part(c, args("write"));
  return partsResult(send, receive, inflate, write, c.imageBlocks, availableParallelism());
}

/** The figures of the four parts put side by side, and the limit named. */
export function partsResult(send: PartFigures, receive: PartFigures, inflate: PartFigures, write: PartFigures, blocks: number, cores: number): PartsResult {
  const sendCpuUsPerDatagram = send.cpuUs / Math.max(1, send.items);
  const receiveCpuUsPerDatagram = receive.cpuUs / Math.max(1, receive.items);
  const cpuUs = blocks * (sendCpuUsPerDatagram + receiveCpuUsPerDatagram) + inflate.cpuUs + write.cpuUs;
  const aloneSec: Record<LimitName, number> = {
    send: (send.wallSec * blocks) / Math.max(1, send.items),
    receive: (blocks * receiveCpuUsPerDatagram) / 1e6,
    inflate: inflate.wallSec,
    write: write.wallSec,
    cpu: cpuUs / 1e6 / Math.max(1, cores),
  };
  let limit: LimitName = "send";
  for (const name of Object.keys(aloneSec) as LimitName[]) if (aloneSec[name] > aloneSec[limit]) limit = name;
  return { send, receive, inflate, write, blocks, sendCpuUsPerDatagram, receiveCpuUsPerDatagram, aloneSec, cores, limit };
}

async function part(c: PartsContext, args: PartArgs): Promise<PartFigures> {
  const p = c.run(process.execPath, [partJs(), JSON.stringify(args)]);
  const code = await p.exited;
  if (code !== 0) throw new FrisbeeBenchError(`bench frisbee: the ${args.part} part failed (exit ${code}): ${p.stderr().split("\n").pop() ?? ""}`);
  const line = p.stdout().trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as PartFigures;
  } catch {
    throw new FrisbeeBenchError(`bench frisbee: the ${args.part} part printed no figures: ${line.slice(0, 80)}`);
  }
}

function partJs(): string {
  return fileURLToPath(builtModuleUrl(import.meta.url, "real/frisbee/bench-part-main.js", "the bench part entry"));
}
