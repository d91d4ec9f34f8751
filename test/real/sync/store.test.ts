import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ExperimentError, openExperimentStore } from "../../../real/store/index.js";
import { parseServerAddress, readSyncServerFile, SyncServerFileError, writeSyncServerFile } from "../../../real/sync/syncserver-file.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-sync-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("experiments name their sync server", () => {
  it("defaults to the first node by name and keeps a chosen one across opens", () => {
    const path = join(dir, "t.db");
    const store = openExperimentStore(path);
    store.createExperiment("exp1", [{ node: "node2", host: "10.0.0.2" }, { node: "node1", host: "10.0.0.1" }]);
    expect(store.syncServerOf("exp1")).toEqual({ node: "node1", host: "10.0.0.1" });
    store.setSyncServer("exp1", "node2");
    store.close();
    const again = openExperimentStore(path);
    expect(again.syncServerOf("exp1").node).toBe("node2");
    again.setSyncServer("exp1", null);
    expect(again.syncServerOf("exp1").node).toBe("node1");
    again.close();
  });

  it("refuses unknown experiments, foreign nodes, duplicates and bad names with one line", () => {
    const store = openExperimentStore(":memory:");
    store.createExperiment("e", [{ node: "a", host: "a" }]);
    expect(() => store.setSyncServer("e", "zz")).toThrow(ExperimentError);
    expect(() => store.syncServerOf("nope")).toThrow(/no experiment named nope/);
    expect(() => store.createExperiment("e", [{ node: "a", host: "a" }])).toThrow(/already exists/);
    expect(() => store.createExperiment("f", [{ node: "a", host: "a" }, { node: "a", host: "b" }])).toThrow(/twice/);
    expect(() => store.createExperiment("bad name", [{ node: "a", host: "a" }])).toThrow(/not an experiment name/);
    expect(() => store.createExperiment("g", [{ node: "a", host: "a" }], "b")).toThrow(/not a node/);
    store.close();
  });
});

describe("the syncserver file", () => {
  it("round-trips host and host:port", () => {
    const path = join(dir, "boot", "syncserver");
    writeSyncServerFile(path, { host: "ops.example.net", port: null });
    expect(readFileSync(path, "utf8")).toBe("ops.example.net\n");
    expect(readSyncServerFile(path)).toEqual({ host: "ops.example.net", port: null });
    writeSyncServerFile(path, { host: "10.0.0.1", port: 16600 });
    expect(readSyncServerFile(path)).toEqual({ host: "10.0.0.1", port: 16600 });
  });

  it("refuses a missing file and a line that is not host[:port]", () => {
    expect(() => readSyncServerFile(join(dir, "none"))).toThrow(SyncServerFileError);
    expect(parseServerAddress("a b")).toBeNull();
    expect(parseServerAddress("h:70000")).toBeNull();
    expect(parseServerAddress("h:0")).toBeNull();
  });
});
