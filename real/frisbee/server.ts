import { createRng, US_PER_SEC, type Micros } from "../../core/engine/index.js";
import { PROGRESS_LEVEL, type ProgressLevel } from "../../core/frisbee/messages.js";
import type { BurstPacing } from "../../core/frisbee/rate.js";
import { FrisbeeServer, type ProgressRequest } from "../../core/frisbee/server.js";
import { GROUP, MulticastNet, bindProcess, wallClock, type NetStats } from "../runtime/index.js";
import type { Store } from "../store/index.js";
import { daemonEvents, type DaemonEvents } from "./events.js";
import { EMPTY_DELTA_BYTES } from "../../core/image/index.js";
import { readImageHeaders } from "../image/index.js";
import { ImageFileError } from "./errors.js";
import { ImageReader, openImage } from "./image-file.js";
import { closeSync } from "node:fs";
import { slabEncoder } from "./wire.js";

export interface FrisbeedOptions {
  imagePath: string;
  group: string;
  port: number;
  iface: string | null;
  pacing: BurstPacing;
  dynamic: boolean;
  /** Ask clients for a progress report every this many seconds; 0: do not ask (unless progressOnce). */
  heartbeatSec: number;
  /** What the reports carry (summary by default). */
  progressLevel?: ProgressLevel;
  /** Ask each client for one report, at a random time within heartbeatSec after it joins. */
  progressOnce?: boolean;
  /** Exit after this long with no requests or reports; 0: never. */
  idleExitSec: number;
  store: Store | null;
  log: ((line: string) => void) | null;
  /** Drop this fraction of arriving datagrams (seeded), for tests of loss. */
  dropRate?: number;
  /** Drop this fraction of the datagrams we send (seeded): loss at the server, every client misses the same blocks. */
  sendDropRate?: number;
  seed?: number;
  also?: (kind: string, fields: Readonly<Record<string, string | number | boolean>>) => void;
  /** false: serve without checking the image first (tests of what clients do with a bad server). */
  checkImage?: boolean;
}

export interface Frisbeed {
  server: FrisbeeServer;
  events: DaemonEvents;
  netStats: NetStats;
  /** Resolves when the server exits idle or is stopped. */
  done: Promise<void>;
  stop(): void;
  /** The IPv4 address behind a peer number in the server's events (`from`). */
  peerIp(peer: number): string;
}

/** frisbeed in the real world: the core server on a multicast socket, reading the image file. */
export async function startFrisbeed(o: FrisbeedOptions): Promise<Frisbeed> {
  // Every chunk header, its regions and sizes, and the file's length are checked before serving:
  // a raw disk or a truncated image is refused here, not found out by every client.
  if (o.checkImage !== false && (await readImageHeaders(o.imagePath)).imageBytes === EMPTY_DELTA_BYTES) {
    // One chunk header, no whole chunk (core/image/delta-format.ts): nothing for a client to lay.
    throw new ImageFileError(`${o.imagePath}: an empty delta (nothing changed since its base): nothing to send; the base alone is the disk`);
  }
  const opened = openImage(o.imagePath);
  let net: MulticastNet;
  try {
    net = await MulticastNet.open({
      group: o.group,
      port: o.port,
      iface: o.iface,
      ownPort: true,
      fastGroupSend: true,
      encode: slabEncoder(),
      ...(o.dropRate === undefined && o.sendDropRate === undefined
        ? {}
        : { dropRate: o.dropRate ?? 0, sendDropRate: o.sendDropRate ?? 0, rng: createRng(o.seed ?? 1).fork("drop:server") }),
    });
  } catch (error) {
    closeSync(opened.fd);
    throw error;
  }
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const events = daemonEvents({
    host: `frisbeed:${o.port}`,
    store: o.store,
    log: o.log,
    also: (kind, fields) => {
      o.also?.(kind, fields);
      if (kind === "frisbee.idle-exit") queueMicrotask(stop);
    },
  });
  const bound = bindProcess(
    { clock: wallClock(), rng: createRng(o.seed ?? 1).fork("frisbeed"), net, events, disk: (doneFn) => new ImageReader(opened.fd, opened.image.byteCount, doneFn) },
    (env) =>
      new FrisbeeServer(env, {
        group: GROUP,
        port: o.port,
        image: opened.image,
        pacing: o.pacing,
        dynamic: o.dynamic,
        idleExitUs: Math.round(o.idleExitSec * US_PER_SEC) as Micros,
        progressRequest: progressRequest(o),
      }),
  );
  let stopped = false;
  function stop(): void {
    if (stopped) return;
    stopped = true;
    bound.timers.close();
    net.close();
    closeSync(opened.fd);
    finish();
  }
  events.emit("frisbee.serving", { image: o.imagePath, chunks: opened.chunks, bytes: opened.image.byteCount, group: o.group, port: o.port, burst: o.pacing.burstPackets, gapUs: o.pacing.burstGapUs });
  return { server: bound.process, events, netStats: net.stats, done, stop, peerIp: (peer) => net.peerIp(peer) };
}

/** The server's progress requests: periodic with -H, or once per client with progressOnce. */
function progressRequest(o: FrisbeedOptions): ProgressRequest | null {
  const once = o.progressOnce === true;
  if (o.heartbeatSec <= 0 && !once) return null;
  return { intervalUs: Math.max(0, o.heartbeatSec) * US_PER_SEC, level: o.progressLevel ?? PROGRESS_LEVEL.summary, once };
}
