import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { WatchdogConfig } from "../../core/service/index.js";
import { NodeAgent } from "./node.js";
import { PeerMesh } from "./peer-mesh.js";
import { AgentServer } from "./server.js";

/**
 * Set by a process that starts `testbed agent` and wants it gone with itself (agent --netns, bench
 * service): the fd of a pipe from that process; the agent stops when the pipe closes.
 */
export const AGENT_LIFELINE_ENV = "TESTBED_AGENT_LIFELINE_FD";

export interface AgentDaemonOptions {
  readonly host: string;
  readonly port: number;
  readonly key: Uint8Array;
  readonly dir: string;
  readonly node: string;
  readonly log: (line: string) => void;
  /** The watchdog's limits (tests shorten them). */
  readonly watchdog?: Partial<WatchdogConfig>;
}

export interface RunningAgent {
  readonly port: number;
  readonly agent: NodeAgent;
  readonly server: AgentServer;
  readonly peers: PeerMesh;
  /** Stops listening, drops connections, stops the supervised processes. */
  stop(): Promise<void>;
}

/** An agent on one port with its own directory: the service it ran before is started again. */
export async function startAgent(o: AgentDaemonOptions): Promise<RunningAgent> {
  mkdirSync(o.dir, { recursive: true });
  const agent = new NodeAgent(o.dir, o.node, o.log, o.watchdog === undefined ? {} : { watchdog: o.watchdog });
  const server = new AgentServer({ host: o.host, port: o.port, key: o.key, handle: (m) => agent.handle(m), log: o.log });
  const port = await server.listen();
  // Heartbeats on the same address and port number, over UDP.
  const peers = new PeerMesh({ host: o.host, port, key: o.key, incarnation: agent.incarnation, log: o.log, onUsable: (list) => agent.writeUsablePeers(list) });
  await peers.start();
  await agent.attachPeers(peers);
  agent.resume();
  let stopped: Promise<void> | null = null;
  return {
    port,
    agent,
    server,
    peers,
    stop: () => (stopped ??= (async () => {
      await server.close();
      await peers.close();
      await agent.shutdown();
    })()),
  };
}

/** Several agents in one process (the benchmark's, and tests'), each in DIR/NAME. */
export async function startAgentPool(o: Omit<AgentDaemonOptions, "node" | "dir" | "port"> & { dir: string; count: number; firstPort: number }): Promise<RunningAgent[]> {
  const out: RunningAgent[] = [];
  for (let i = 0; i < o.count; i++) {
    const node = `node${i}`;
    out.push(await startAgent({ ...o, node, dir: join(o.dir, node), port: o.firstPort === 0 ? 0 : o.firstPort + i }));
  }
  return out;
}
