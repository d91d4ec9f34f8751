import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { CODE_RESET, encodeRequest } from "../../../core/sync/index.js";
import { syncCall } from "../../../real/sync/client.js";
import { startSyncd } from "./syncd-process.js";
import { rawTcp } from "./support.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-syncd-stop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const wait = (name: string): Buffer => Buffer.from(encodeRequest({ type: "wait", name, noWait: false, count: 0, error: 0, ext: null }));

describe("syncd --db stops in order on SIGTERM while waiters are connected", () => {
  it("answers every waiter with 240, records their events, closes the store and exits 0 without a trace", async () => {
    const db = join(dir, "stop.db");
    const syncd = await startSyncd(["--db", db], { cwd: dir });
    const tcp = ["s1", "s2", "s3"].map((name) => rawTcp(syncd.tcpPort, wait(name)));
    const udp = syncCall({
      host: "127.0.0.1", port: syncd.udpPort as number, transport: "udp", timeoutMs: 0,
      request: { type: "wait", name: "s4", noWait: false, count: 0, error: 0 },
      ext: { deadlineMs: 0, generation: 0, crash: "original", extra: "new" },
    });
    for (const name of ["s1", "s2", "s3", "s4"]) await syncd.waitFor(new RegExp(`sync\\.wait name=${name} `));
    const idle = rawTcp(syncd.tcpPort, null);
    await idle.connected;
    expect(await syncd.stop("SIGTERM")).toBe(0);
    expect(syncd.stderr).toBe("");
    expect(syncd.output).not.toMatch(/\n\s+at /);
    for (const t of tcp) expect((await t.done).readInt32LE(0)).toBe(CODE_RESET);
    expect((await idle.done).length).toBe(0);
    expect((await udp).exit).toBe(CODE_RESET);
    const store = new Database(db, { readonly: true });
    const rows = store.prepare("SELECT kind, data FROM events ORDER BY id").all() as { kind: string; data: string }[];
    store.close();
    const releases = rows.filter((r) => r.kind === "sync.release").map((r) => JSON.parse(r.data) as { name: string; code: number });
    expect(releases.map((r) => [r.name, r.code]).sort()).toEqual([["s1", 240], ["s2", 240], ["s3", 240], ["s4", 240]]);
    expect(rows.at(-1)?.kind).toBe("syncd.stop");
  });
});
