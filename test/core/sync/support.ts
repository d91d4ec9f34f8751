import type { RequestExt, SyncRequest } from "../../../core/sync/index.js";
import { SyncServer, type ServerLimits } from "../../../core/sync/index.js";

/** A server on a fake clock, recording every reply in order. */
export class Harness {
  nowUs = 0;
  readonly timers = new Map<number, number>();
  readonly replies: { peer: number; code: number; generation: number; atUs: number }[] = [];
  readonly events: { kind: string; fields: Record<string, unknown> }[] = [];
  readonly server: SyncServer;

  constructor(limits: Partial<ServerLimits> = {}) {
    this.server = new SyncServer(
      {
        now: () => this.nowUs,
        timers: { set: (id, at) => void this.timers.set(id, at), cancel: (id) => void this.timers.delete(id) },
        events: { emit: (kind, fields) => void this.events.push({ kind, fields: { ...fields } }) },
        reply: (peer, code, generation) => void this.replies.push({ peer, code, generation, atUs: this.nowUs }),
      },
      limits,
    );
  }

  /** Advances the clock, firing due timers in time order. */
  advance(toUs: number): void {
    for (;;) {
      const due = [...this.timers].filter(([, at]) => at <= toUs).sort((a, b) => a[1] - b[1] || a[0] - b[0])[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.nowUs = Math.max(this.nowUs, due[1]);
      this.server.timer(due[0]);
    }
    this.nowUs = Math.max(this.nowUs, toUs);
  }

  send(req: Partial<SyncRequest> & { type: "init" | "wait" }): number {
    const peer = this.server.newPeer();
    this.server.request(peer, { name: "b", noWait: false, count: 0, error: 0, ext: null, ...req });
    return peer;
  }

  init(count: number, more: Partial<SyncRequest> = {}): number {
    return this.send({ type: "init", count, ...more });
  }

  wait(more: Partial<SyncRequest> = {}): number {
    return this.send({ type: "wait", ...more });
  }

  replyTo(peer: number): { code: number; generation: number; atUs: number } | undefined {
    const all = this.replies.filter((r) => r.peer === peer);
    if (all.length > 1) throw new Error(`peer ${peer} got ${all.length} replies`);
    return all[0];
  }

  codeOf(peer: number): number | undefined {
    return this.replyTo(peer)?.code;
  }
}

export function ext(more: Partial<RequestExt> = {}): RequestExt {
  return { requestId: 1, deadlineMs: 0, generation: 0, crash: "original", extra: "new", cancel: false, epochKnown: false, ...more };
}
