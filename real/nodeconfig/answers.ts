import { DEFAULT_SYNC_PORT, loadInfoLine, readyCountLine, syncServerLine, type NodeConfigCommand } from "../../core/experiment/nodeconfig.js";
import type { ExperimentStore } from "../store/index.js";
import { UNKNOWN } from "./server.js";

/**
 * The answer lines to one request from the node at `peer`, all read from the store: the node's
 * experiment and partitions, and what its running swap serves (image servers, the sync server's
 * port, the heartbeat interval). A peer no swapping or active experiment knows gets UNKNOWN.
 */
export function answer(command: NodeConfigCommand, peer: string, store: ExperimentStore, onReady?: (experiment: string, node: string) => void): string[] {
  const who = store.nodeByHost(peer);
  if (who === "unknown" || who === "ambiguous") return [UNKNOWN];
  const { experiment, node } = who;
  switch (command) {
    case "nodeid":
      return [`NODEID=${node} EXPERIMENT=${experiment}`];
    case "ready":
      store.setReady(experiment, node);
      onReady?.(experiment, node);
      return [];
    case "readycount": {
      const c = store.readyCount(experiment);
      return [readyCountLine(c.ready, c.total)];
    }
    case "syncserver":
      return [syncServer(store, experiment, node)].filter((l) => l !== "");
    case "loadinfo":
      return loadInfo(store, experiment, node);
  }
}

function syncServer(store: ExperimentStore, experiment: string, node: string): string {
  const row = store.experimentHead(experiment);
  const server = row?.spec?.syncServer ?? null;
  if (row === undefined || server === null) return "";
  const host = store.hostOf(experiment, server);
  if (host === null) return "";
  return syncServerLine({ server: host, port: row.serving.syncPort ?? DEFAULT_SYNC_PORT, isServer: server === node });
}

function loadInfo(store: ExperimentStore, experiment: string, node: string): string[] {
  const row = store.experimentHead(experiment);
  const spec = row?.spec;
  if (row === undefined || spec === null || spec === undefined) return [];
  const me = spec.nodes.find((n) => n.name === node);
  if (me === undefined) return [];
  const deltas = new Map(store.partitions(experiment).filter((p) => p.node === node).map((p) => [p.partition, p.delta]));
  const lines: string[] = [];
  for (const part of me.partitions) {
    const served = row.serving.images?.[part.image];
    // An image not served right now gets no line; the node asks again.
    if (served === undefined) continue;
    lines.push(
      loadInfoLine({
        group: served.group,
        port: served.port,
        partition: part.partition,
        os: "Linux",
        disk: `ad${part.partition - 1}`,
        zeroFill: false,
        project: spec.project,
        imageName: part.image,
        chunks: served.chunks,
        heartbeatSec: row.serving.heartbeatSec ?? 0,
        delta: deltas.get(part.partition) ?? null,
      }),
    );
  }
  return lines;
}
