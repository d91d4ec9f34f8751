import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPortalServer, type PortalServer } from "../../../bin/serve-command.js";
import { openExperimentStore, type ExperimentStore } from "../../../real/store/index.js";
import { parseExperiment } from "../../../scenarios/experiment/schema.js";
import { experimentTemplate } from "../../../scenarios/experiment/template.js";

export const TOKEN = "test-token-0123456789";

export interface Portal {
  readonly dir: string;
  readonly db: string;
  readonly url: string;
  readonly server: PortalServer;
  /** A connection of the test's own, to check what reached the store. */
  readonly store: ExperimentStore;
  readonly logs: string[];
  close(): Promise<void>;
}

/** A store with simulated experiments of `nodes` nodes each, and the portal over it on an ephemeral loopback port. */
export async function portalWith(names: readonly string[], nodes: number, speed: number | null): Promise<Portal> {
  const dir = mkdtempSync(join(tmpdir(), "testbed-portal-"));
  const db = join(dir, "testbed.db");
  const store = openExperimentStore(db);
  for (const name of names) store.createFromSpec(parseExperiment(JSON.stringify(experimentTemplate({ nodes, sim: true, name })), `${name}.json`));
  const logs: string[] = [];
  const server = await startPortalServer({
    host: "127.0.0.1",
    port: 0,
    db,
    token: TOKEN,
    speed,
    real: () => {
      throw new Error("no real swaps in the portal tests");
    },
    log: (line) => logs.push(line),
  });
  return {
    dir,
    db,
    url: server.portal.url,
    server,
    store,
    logs,
    close: async () => {
      await server.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits for the store to say `state`, reading it as another process would (no sleeps on the way: each wait is for a change). */
export async function untilState(p: Portal, name: string, states: readonly string[]): Promise<string> {
  for (;;) {
    const state = p.store.experimentHead(name)?.state ?? "gone";
    if (states.includes(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
