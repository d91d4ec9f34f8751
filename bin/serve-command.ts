import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { NodeFileError, readNodeFile } from "../real/experiment/node-file.js";
import type { PortalSwap, RunningPortal } from "../real/portal/server.js";
import { DEFAULT_STORE_PATH, ExperimentError, openExperimentStore } from "../real/store/index.js";
import { runSwap, type RealSwapRunner } from "../scenarios/experiment/swap.js";
import { parseWhole, UsageError } from "./errors.js";
import { addRealNodeOptions } from "./swap-command.js";

/** The portal's port unless --port says otherwise. */
export const PORTAL_PORT = 8080;

/** Simulated seconds per wall second for a simulated swap started from the portal, so that it can be watched. */
export const PORTAL_SIM_SPEED = 20;

export interface PortalServerOptions {
  readonly host: string;
  readonly port: number;
  readonly db: string;
  readonly token: string;
  /** Simulated swaps' speed (null: as fast as possible). */
  readonly speed: number | null;
  /** The real world's runner for experiments without a simulator section. */
  readonly real: () => RealSwapRunner;
  readonly log: (line: string) => void;
}

export interface PortalServer {
  readonly portal: RunningPortal;
  /** Cancels swaps still running (they end failed, with the reason), waits for them, stops serving. */
  close(): Promise<void>;
}

/**
 * The portal with its actions: a swap asked for by a page runs in this process on its own store
 * connection (so the portal sees it move as it would a swap from another process), in the world
 * the experiment was made for: the simulator when its file has a `sim` section, real nodes otherwise.
 */
export async function startPortalServer(o: PortalServerOptions): Promise<PortalServer> {
  const store = openExperimentStore(o.db);
  const running = new Set<Promise<unknown>>();
  let stopping: string | null = null;
  const swap = (name: string, action: PortalSwap): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (stopping !== null) return reject(new ExperimentError("the portal is stopping"));
      const row = store.experimentHead(name);
      if (row === undefined) return reject(new ExperimentError(`no experiment named ${name}`));
      const world = action === "swapout" && row.world !== null ? row.world : row.spec?.sim !== null && row.spec?.sim !== undefined ? "sim" : "real";
      const own = openExperimentStore(o.db);
      let started = false;
      const done = runSwap({
        store: own,
        name,
        action,
        world,
        ...(world === "sim" && o.speed !== null ? { speed: o.speed } : {}),
        ...(world === "real" ? { real: o.real() } : {}),
        onStarted: () => {
          started = true;
          o.log(`${action} ${name} (${world}) started from the portal`);
          resolve();
        },
        cancelled: () => stopping,
      })
        .then((r) => o.log(`${action} ${name}: ${r.ok ? "done" : "failed"}: ${r.state}${r.reason === "" ? "" : ` (${r.reason})`} in ${r.wallSeconds} s`))
        .catch((error: unknown) => {
          if (!started) reject(error);
          else o.log(`${action} ${name} stopped: ${(error as Error).message.split("\n")[0]}`);
        })
        .finally(() => {
          own.close();
          running.delete(done);
          portal.changed();
        });
      running.add(done);
    });
  let portal: RunningPortal;
  // Loaded here, not at start-up: every other command would pay for the web framework.
  const { startPortal } = await import("../real/portal/server.js");
  try {
    portal = await startPortal({ host: o.host, port: o.port, store, token: o.token, actions: { swap } });
  } catch (error) {
    store.close();
    throw error;
  }
  return {
    portal,
    close: async () => {
      stopping = "the portal was stopped";
      await Promise.allSettled([...running]);
      await portal.close();
      store.close();
    },
  };
}

/** `testbed serve`: the portal, until SIGINT or SIGTERM. */
export function registerServeCommand(program: Command, real: (flags: Record<string, unknown>) => RealSwapRunner): void {
  const cmd = program
    .command("serve")
    .description("the web portal: experiments, their nodes and swaps, live; swap-in/swap-out buttons need the printed token (runs until SIGINT/SIGTERM)")
    .option("--port <port>", "TCP port (0: any free one)", String(PORTAL_PORT))
    .option("--host <addr>", "address to listen on (loopback unless told otherwise)", "127.0.0.1")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--token <token>", "the token that changing state needs (default: $TESTBED_PORTAL_TOKEN, else a random one, printed)")
    .option("--speed <x>", "simulated seconds per wall second for simulated swaps started from the portal (0: as fast as possible)", String(PORTAL_SIM_SPEED));
  addRealNodeOptions(cmd)
    .addHelpText("after", "\nReal swaps started from the page use the real-world flags as testbed exp swapin does.\n\nExamples:\n  testbed serve --port 8080 --db ./testbed.db\n  testbed serve --db ./testbed.db --nodes-file machines.txt --exec 'ssh {address} --'")
    .action(async (f: { port: string; host: string; db: string; token?: string; speed: string } & Record<string, unknown>) => {
      const port = parseWhole("--port", f.port, 0, 65_535);
      const speed = Number(f.speed);
      if (f.speed.trim() === "" || !Number.isFinite(speed) || speed < 0 || speed > 1e6) throw new UsageError(`--speed: expected a number from 0 up, got "${f.speed}"`);
      const token = f.token ?? process.env.TESTBED_PORTAL_TOKEN ?? randomBytes(18).toString("base64url");
      if (token.length < 8 || !/^[\x21-\x7e]+$/.test(token)) throw new UsageError("--token: at least 8 printable characters, no spaces");
      // The real-world flags are checked now: a bad one is exit 2 here, not an error on the page at the first swap.
      real(f);
      if (typeof f.nodesFile === "string") checkNodeFile(f.nodesFile);
      // The portal shows and swaps what is stored: a --db that names no store is a typo, never a new store.
      openExperimentStore(f.db, { mustExist: true }).close();
      let server: PortalServer;
      try {
        server = await startPortalServer({ host: f.host, port, db: f.db, token, speed: speed === 0 ? null : speed, real: () => real(f), log: (line) => console.log(`${new Date().toISOString()} ${line}`) });
      } catch (error) {
        if (error instanceof Error && error.name === "PortalListenError") throw new UsageError(error.message);
        throw error;
      }
      const { url } = server.portal;
      console.log(`portal: ${url}  (store ${f.db})`);
      console.log(`token:  ${token}`);
      console.log(`open ${url}#token=${encodeURIComponent(token)} to use the swap buttons; Ctrl-C stops`);
      if (!isLoopback(f.host)) console.log(`note: listening on ${f.host}, not loopback: anyone who can reach it can read the experiments`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await server.close();
    });
}

/** A node file that cannot be read or parsed is refused at start, in one line. */
function checkNodeFile(path: string): void {
  try {
    readNodeFile(path, ".");
  } catch (error) {
    if (error instanceof NodeFileError) throw new UsageError(`--nodes-file ${error.message}`);
    throw error;
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

