import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../../scenarios/reader.js";
import { readExperimentFile } from "../../../scenarios/experiment/file.js";
import { parseExperiment } from "../../../scenarios/experiment/schema.js";
import { experimentTemplate } from "../../../scenarios/experiment/template.js";

const good = {
  name: "exp1",
  nodes: [{ name: "node", count: 3, image: "std" }, { name: "db", partitions: [{ partition: 1, image: "std" }, { partition: 2, image: "data" }], nonFatal: true }],
  images: { std: { file: "images/std.ndz" }, data: { size: "8MiB", data: "24MiB" } },
  syncServer: "db",
  saveDiskState: true,
};

function errorOf(value: unknown): string {
  try {
    parseExperiment(JSON.stringify(value), "x.json");
  } catch (error) {
    expect(error).toBeInstanceOf(ScenarioError);
    return (error as Error).message;
  }
  throw new Error("accepted");
}

describe("experiment files", () => {
  it("expands counts into node names and keeps partitions, images and flags", () => {
    const spec = parseExperiment(JSON.stringify(good), "x.json");
    expect(spec.nodes.map((n) => n.name)).toEqual(["node0", "node1", "node2", "db"]);
    expect(spec.nodes[3]).toEqual({ name: "db", partitions: [{ partition: 1, image: "std" }, { partition: 2, image: "data" }], nonFatal: true });
    expect(spec.images).toEqual([
      { name: "std", file: "images/std.ndz", compressedBytes: null, uncompressedBytes: null },
      { name: "data", file: null, compressedBytes: 8 * 2 ** 20, uncompressedBytes: 24 * 2 ** 20 },
    ]);
    expect(spec).toMatchObject({ syncServer: "db", saveDiskState: true, spares: 0, setup: null, sim: null, project: "testbed" });
  });

  it("defaults the sync server to the first node, and null means none", () => {
    expect(parseExperiment(JSON.stringify({ ...good, syncServer: undefined }), "x").syncServer).toBe("node0");
    expect(parseExperiment(JSON.stringify({ ...good, syncServer: null }), "x").syncServer).toBeNull();
  });

  it("names the file, the field and the mistake in one line", () => {
    expect(errorOf({ ...good, nodes: [{ name: "n", image: "nope" }] })).toBe('x.json: nodes[0].image: no image named "nope" in images (std, data)');
    expect(errorOf({ ...good, syncServr: "db" })).toBe('x.json: syncServr: unknown field (did you mean "syncServer"?)');
    expect(errorOf({ ...good, syncServer: "web" })).toBe('x.json: syncServer: no node named "web" (tb-set-sync-server names a node of the experiment)');
    expect(errorOf({ ...good, nodes: [{ name: "node", count: 2, image: "std" }, { name: "node1", image: "data" }] })).toBe("x.json: nodes[1].name: node node1 is listed twice");
    expect(errorOf({ ...good, images: { ...good.images, spare: { file: "a.ndz" } } })).toBe("x.json: images.spare: no node loads this image");
    expect(errorOf({ ...good, images: { std: { file: "a" }, data: { size: "8MiB" } } })).toBe('x.json: images.data: expected "file" (an image to serve), or "size" and "data" (compressed and written bytes, for the simulator)');
    expect(errorOf({ ...good, timeouts: { boot: "soon" } })).toBe('x.json: timeouts.boot: expected a duration like "600s", got "soon"');
    expect(errorOf({ ...good, name: "bad name" })).toBe('x.json: name: "bad name" is not an experiment name (letters, digits, _ . -; at most 63)');
    expect(errorOf({ ...good, sim: { flakyNodes: 9 } })).toBe("x.json: sim.flakyNodes: expected a number from 0 to 4, got 9");
    expect(errorOf({ ...good, sim: { boot: "40s..20s" } })).toBe("x.json: sim.boot: the range's start is after its end");
    expect(errorOf({ ...good, nodes: [{ name: "db", partitions: [{ partition: 1, image: "std" }, { partition: 1, image: "data" }] }] })).toBe("x.json: nodes[0].partitions[1].partition: partition 1 is listed twice");
    expect(() => parseExperiment("{", "x.json")).toThrow(/^x\.json: not valid JSON \(/);
  });

  it("refuses a missing file, a directory and binary bytes in one line each", () => {
    const dir = mkdtempSync(join(tmpdir(), "exp-file-"));
    mkdirSync(join(dir, "d"));
    writeFileSync(join(dir, "bin"), Buffer.from([0xff, 0xfe, 0x00, 0x81]));
    expect(() => readExperimentFile(join(dir, "none.json"))).toThrow(`${join(dir, "none.json")}: no such file`);
    expect(() => readExperimentFile(join(dir, "d"))).toThrow(`${join(dir, "d")}: is a directory, not an experiment file`);
    expect(() => readExperimentFile(join(dir, "bin"))).toThrow(`${join(dir, "bin")}: not UTF-8 text (an experiment file is JSON)`);
  });

  it("accepts the templates it prints, simulated and real", () => {
    for (const sim of [true, false]) {
      for (const nodes of [1, 4, 1000]) {
        const spec = parseExperiment(JSON.stringify(experimentTemplate({ nodes, sim })), "t.json");
        expect(spec.nodes).toHaveLength(nodes);
        expect(spec.sim === null).toBe(!sim);
      }
    }
  });

  it("never throws anything but a one-line ScenarioError on random input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.anything().map((v) => JSON.stringify({ ...good, nodes: v })), fc.anything().map((v) => JSON.stringify({ ...good, sim: v }))), (text) => {
        try {
          parseExperiment(text ?? "", "f.json");
        } catch (error) {
          expect(error).toBeInstanceOf(ScenarioError);
          expect((error as Error).message).not.toMatch(/\n/);
        }
      }),
      { numRuns: 500 },
    );
  });
});
