import type { Command } from "commander";
import { NODECONFIG_COMMANDS, parseLoadInfo, parseSyncServer, type NodeConfigCommand } from "../core/experiment/nodeconfig.js";
import { askNodeConfig, NodeConfigError, parseTmcd } from "../real/nodeconfig/client.js";
import { NodeConfigListenError, startNodeConfigServer } from "../real/nodeconfig/server.js";
import { DEFAULT_STORE_PATH, openExperimentStore } from "../real/store/index.js";
import { writeSyncServerFile } from "../real/sync/syncserver-file.js";
import { NodeConfigFailure, parseWhole, UsageError } from "./errors.js";

/** The node-configuration server a node asks (tmcd), and the client a node asks with (tmcc). */
export function registerNodeConfigCommands(program: Command): void {
  program
    .command("nodeconfig")
    .description("serve nodes their configuration from the store, as Emulab's tmcd: loadinfo, syncserver, ready, readycount (runs until SIGINT/SIGTERM)")
    .option("-p, --port <port>", "TCP port", "7777")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .addHelpText("after", "\nA node is known by the address it connects from, and is told only about its own experiment.\n\nExample:\n  testbed nodeconfig -p 7777 --db ./testbed.db")
    .action(async (o: { port: string; host: string; db: string }) => {
      const port = parseWhole("--port", o.port, 0, 65_535);
      const store = openExperimentStore(o.db);
      const log = (kind: string, fields: Readonly<Record<string, string | number | boolean>>): void =>
        console.log(`${new Date().toISOString()} ${kind} ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(" ")}`);
      try {
        const server = await startNodeConfigServer({ host: o.host, port, store, events: { emit: log } });
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
        await server.close();
        log("nodeconfig.stop", { requests: server.stats.requests, unknownPeers: server.stats.unknownPeers });
      } catch (error) {
        if (error instanceof NodeConfigListenError) throw new UsageError(error.message);
        throw error;
      } finally {
        store.close();
      }
    });
  program
    .command("tmcc")
    .description("ask the node-configuration server one question, as a node's tmcc does, and print the answer")
    .argument("<command>", NODECONFIG_COMMANDS.join(", "))
    .requiredOption("--tmcd <host:port>", "the node-configuration server")
    .option("-i, --interface <addr>", "this node's address (the server knows the node by it)")
    .option("--file <path>", "with syncserver: write the node's syncserver file (host[:port]) too")
    .addHelpText("after", "\nExample:\n  testbed tmcc loadinfo --tmcd boss:7777 -i 10.0.0.7")
    .action(async (command: string, o: { tmcd: string; interface?: string; file?: string }) => {
      if (!(NODECONFIG_COMMANDS as readonly string[]).includes(command)) throw new UsageError(`unknown command "${command}" (known: ${NODECONFIG_COMMANDS.join(", ")})`);
      if (o.file !== undefined && command !== "syncserver") throw new UsageError("--file goes with syncserver");
      const lines = await ask(o.tmcd, o.interface, command as NodeConfigCommand);
      for (const line of lines) console.log(line);
      if (o.file !== undefined && lines[0] !== undefined) {
        const s = parseSyncServer(lines[0]);
        if (s === null) throw new UsageError(`the server's syncserver answer is not SYNCSERVER SERVER=... ISSERVER=...: "${lines[0].slice(0, 80)}"`);
        writeSyncServerFile(o.file, { host: s.server, port: s.port === 16534 ? null : s.port });
      }
    });
}

/** One question to the server at `tmcd` (host:port) from `iface`; its failures are one line, exit 1. */
export async function ask(tmcd: string, iface: string | undefined, command: NodeConfigCommand): Promise<string[]> {
  const where = parseTmcd(tmcd);
  if (where === null) throw new UsageError(`--tmcd: expected host:port, got "${tmcd}"`);
  try {
    return await askNodeConfig({ host: where.host, port: where.port, command, ...(iface === undefined ? {} : { localAddress: iface }) });
  } catch (error) {
    if (error instanceof NodeConfigError) throw new NodeConfigFailure(error.message);
    throw error;
  }
}

export { NodeConfigFailure };

/** What `frisbee --tmcd` loads: the loadinfo line for `part` (or the first), as group, port and heartbeat. */
export async function loadInfoFor(tmcd: string, iface: string | undefined, part: number | null): Promise<{ group: string; port: number; heartbeatSec: number }> {
  const lines = await ask(tmcd, iface, "loadinfo");
  const parsed = lines.map((l) => parseLoadInfo(l));
  const bad = parsed.find((p) => typeof p === "string");
  if (typeof bad === "string") throw new NodeConfigFailure(`${tmcd}: ${bad}`);
  const infos = parsed as Exclude<(typeof parsed)[number], string>[];
  const chosen = part === null ? infos[0] : infos.find((i) => i.partition === part);
  if (chosen === undefined) throw new NodeConfigFailure(`${tmcd}: nothing to load${part === null ? "" : ` on partition ${part}`} for ${iface ?? "this node"} (no loadinfo line${lines.length === 0 ? "; is the node's experiment swapping in, and its image served?" : ""})`);
  return { group: chosen.group, port: chosen.port, heartbeatSec: chosen.heartbeatSec };
}

export interface NodeConfigFlags {
  mcastaddr?: string;
  port?: string;
  heartbeat?: string;
  interface?: string;
  tmcd?: string;
  part?: string;
}

/** `frisbee --tmcd`: group, port and heartbeat from the node's loadinfo (a -H given wins); without it, -m and -p are needed. */
export async function fromNodeConfig(flags: NodeConfigFlags): Promise<{ mcastaddr: string; port: string; heartbeat?: string }> {
  if (flags.tmcd === undefined) {
    if (flags.part !== undefined) throw new UsageError("--part goes with --tmcd");
    if (flags.mcastaddr === undefined || flags.port === undefined) throw new UsageError("give the server's -m GROUP and -p PORT, or --tmcd HOST:PORT to ask the node-configuration server");
    return { mcastaddr: flags.mcastaddr, port: flags.port };
  }
  if (flags.mcastaddr !== undefined || flags.port !== undefined) throw new UsageError("--tmcd tells the group and port: leave out -m and -p");
  const part = flags.part === undefined ? null : parseWhole("--part", flags.part, 1, 16);
  const info = await loadInfoFor(flags.tmcd, flags.interface, part);
  const heartbeat = flags.heartbeat ?? (info.heartbeatSec > 0 ? String(info.heartbeatSec) : undefined);
  return { mcastaddr: info.group, port: String(info.port), ...(heartbeat === undefined ? {} : { heartbeat }) };
}
