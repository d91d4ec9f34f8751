import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readKey } from "../../../real/agent/key.js";
import { readNodeFile } from "../../../real/agent/nodes-file.js";
import { readNodeFile as readRealNodeFile } from "../../../real/experiment/node-file.js";
import { readNodeList } from "../../../real/monitor/nodes-file.js";
import { readUserFile, readUserText } from "../../../real/runtime/index.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-read-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class MineError extends Error {}
const mine = (m: string): Error => new MineError(m);

describe("reading a file the user named", () => {
  it("returns its bytes or text", () => {
    writeFileSync(join(dir, "a.txt"), "héllo\n");
    expect(readUserText(join(dir, "a.txt"), "list", mine)).toBe("héllo\n");
    expect(readUserFile(join(dir, "a.txt"), "list", mine).length).toBe(7);
  });

  it("says why it cannot, in one line, as the caller's own error", () => {
    const missing = join(dir, "missing");
    expect(() => readUserText(missing, "node list", mine)).toThrow(MineError);
    expect(() => readUserText(missing, "node list", mine)).toThrow(`${missing}: cannot read the node list (no such file)`);
    expect(() => readUserText(dir, "key", mine)).toThrow(`${dir}: cannot read the key (is a directory)`);
    expect(() => readUserText(join(dir, "a.txt", "x"), "key", mine)).toThrow(/cannot read the key \(a part of the path is not a directory\)$/);
  });

  it("is the one way the node lists, node files and keys are read", () => {
    const missing = join(dir, "none");
    expect(() => readNodeList(missing)).toThrow(`${missing}: cannot read the node list (no such file)`);
    expect(() => readNodeFile(dir)).toThrow(`${dir}: cannot read the node file (is a directory)`);
    expect(() => readRealNodeFile(missing, dir)).toThrow(`${missing}: cannot read the node file (no such file)`);
    expect(() => readKey(dir)).toThrow(`${dir}: cannot read the key (is a directory)`);
  });
});
