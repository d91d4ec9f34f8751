import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NodeFileError, parseNodeFile } from "../../../real/agent/nodes-file.js";
import { openServiceStore } from "../../../real/store/index.js";
import { readServiceDefinition } from "../../../scenarios/service/definition.js";
import { ScenarioError } from "../../../scenarios/reader.js";
import { tempDir } from "./support.js";

const t = tempDir("svc-files");
afterAll(() => t.cleanup());

describe("node file", () => {
  it("reads NAME HOST:PORT lines, with comments and IPv6", () => {
    expect(parseNodeFile("n.txt", "# nodes\na 127.0.0.1:7080\nb [::1]:7081  # six\n\n")).toEqual([
      { name: "a", host: "127.0.0.1", port: 7080 },
      { name: "b", host: "::1", port: 7081 },
    ]);
  });

  it("names the file and line of every mistake", () => {
    const cases: [string, RegExp][] = [
      ["a 127.0.0.1:0\n", /^n\.txt:1: expected HOST:PORT with a port from 1 to 65535/],
      ["a b c\n", /^n\.txt:1: expected "NAME HOST:PORT"/],
      ["a;rm 127.0.0.1:1\n", /^n\.txt:1: bad node name/],
      ["a h:1\nb h:1\n", /^n\.txt:2: h:1 is listed twice \(first on line 1\)/],
      ["# none\n", /^n\.txt: the node file names no node/],
    ];
    for (const [text, pattern] of cases) expect(() => parseNodeFile("n.txt", text)).toThrow(pattern);
    expect(() => parseNodeFile("n.txt", "x")).toThrow(NodeFileError);
  });
});

describe("service definition", () => {
  const tar = join(t.dir, "base.tar");
  writeFileSync(tar, "not really a tarball, but it exists");
  const write = (value: unknown): string => {
    const path = join(t.dir, `def-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };
  const good = {
    name: "cdn",
    experiment: "e1",
    ports: "20000-20009",
    processes: [{ name: "server", command: ["sh", "run.sh", "{port}"], ports: 2, check: { tcp: true } }],
    nodeSets: [
      { name: "alpha", nodes: ["n0"], tarballs: [{ file: "base.tar" }] },
      { name: "production", nodes: "*", tarballs: [{ file: "base.tar" }, { file: "base.tar", restart: false }] },
    ],
    checksum: ["run.sh"],
    rollout: { batches: [1, "20%"], maxParallel: 3, maxFailPct: 10, progressDeadline: "5m" },
  };

  it("reads the processes, the node sets (a node in the first set that selects it) and the rollout's limits", () => {
    const d = readServiceDefinition(write(good), ["n0", "n1", "n2"]);
    expect(d.nodeSets.map((s) => [s.name, s.nodes])).toEqual([["alpha", [0]], ["production", [1, 2]]]);
    expect(d.nodeSets[1]?.tarballs.map((x) => x.restart)).toEqual([true, false]);
    expect(d.rollout).toMatchObject({ batches: [1, "20%"], maxParallel: 3, maxFailPct: 10, progressDeadlineUs: 300_000_000 });
    expect(d.processes[0]).toMatchObject({ ports: 2, checkTcp: true });
  });

  it("refuses mistakes in one line naming the file and the field", () => {
    const cases: [unknown, RegExp][] = [
      [{ ...good, nodeSets: [{ name: "a", nodes: "*", tarballs: [{ file: "gone.tar" }] }] }, /: nodeSets\[0\]\.tarballs\[0\]\.file: no such file: .*gone\.tar$/],
      [{ ...good, ports: "80-90" }, /: ports: expected a port range like "20000-20099" within 1024-65535/],
      [{ ...good, ports: "20000-20000" }, /: ports: the range holds 1 ports, the processes take 2/],
      [{ ...good, nodeSets: [good.nodeSets[0]] }, /: nodeSets: node n1 \(from the node file\) is in no node set/],
      [{ ...good, rollout: { batches: [0] } }, /: rollout\.batches\[0\]: expected a count of at least 1/],
      [{ ...good, rollout: { maxFailPct: 150 } }, /: rollout\.maxFailPct: expected a number from 0 to 100/],
      [{ ...good, checksum: ["../etc/passwd"] }, /: checksum\[0\]: expected a path inside the service's files/],
      [{ ...good, proceses: [] }, /: proceses: unknown field \(did you mean "processes"\?\)/],
    ];
    for (const [value, pattern] of cases) expect(() => readServiceDefinition(write(value), ["n0", "n1"])).toThrow(pattern);
    expect(() => readServiceDefinition(join(t.dir, "nope.json"), ["n0"])).toThrow(ScenarioError);
  });
});

describe("service store", () => {
  it("keeps nodes, rollouts with their batches, and checksum results", () => {
    const store = openServiceStore(join(t.dir, "s.db"));
    store.saveNodes([{ service: "cdn", node: "n0", address: "h:1", nodeSet: "all", version: "v2", previous: "v1", healthy: true, restarts: 3, error: null, updatedAt: "t" }]);
    const id = store.saveRollout({ service: "cdn", version: "v2", state: "rolled-back", reason: "batch 2", targets: 4, startedAt: "t", seconds: 1.5, batches: [{ batch: 1, first: 0, size: 2, failed: 0 }, { batch: 2, first: 2, size: 2, failed: 1 }] });
    store.saveChecksums([{ service: "cdn", roundAt: "t", nodeSet: "all", file: "run.sh", decided: null, supporters: 1, expected: 4, minority: [] }]);
    expect(store.nodes("cdn")[0]).toMatchObject({ version: "v2", previous: "v1", healthy: true, restarts: 3 });
    expect(store.rollouts("cdn")).toEqual([expect.objectContaining({ id, state: "rolled-back", batches: [{ batch: 1, first: 0, size: 2, failed: 0 }, { batch: 2, first: 2, size: 2, failed: 1 }] })]);
    expect(store.checksums("cdn")[0]).toMatchObject({ decided: null, expected: 4 });
    store.close();
  });
});
