import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { NodeListError, parseNodeList, readNodeList } from "../../../real/monitor/nodes-file.js";
import { parseTestSpec } from "../../../real/monitor/probe.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-nodes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("node list", () => {
  it("reads one node per line, skipping blanks and comments", () => {
    expect(parseNodeList("n.txt", "# planetlab\npl1.example.org\n\n  10.0.0.2  # rack 2\nfe80::1\n::1\n")).toEqual(["pl1.example.org", "10.0.0.2", "fe80::1", "::1"]);
  });

  it("refuses a duplicate node, naming both lines", () => {
    expect(() => parseNodeList("n.txt", "a\nb\na\n")).toThrow(new NodeListError('n.txt:3: duplicate node "a" (first on line 1)'));
  });

  it("refuses a name a shell would read as syntax", () => {
    expect(() => parseNodeList("n.txt", "ok\nx;rm -rf /\n")).toThrow(/^n\.txt:2: expected one node name per line/);
    expect(() => parseNodeList("n.txt", "$(reboot)\n")).toThrow(/^n\.txt:1: bad node name "\$\(reboot\)"/);
    // A leading dash would be read as an option by the command the name is put into.
    expect(() => parseNodeList("n.txt", "-oProxyCommand=reboot\n")).toThrow(/^n\.txt:1: bad node name/);
  });

  it("refuses an unreadable file, a directory and an empty list in one line", () => {
    expect(() => readNodeList(join(dir, "missing.txt"))).toThrow(/missing\.txt: cannot read the node list \(no such file\)$/);
    expect(() => readNodeList(dir)).toThrow(/cannot read the node list \(is a directory\)$/);
    writeFileSync(join(dir, "empty.txt"), "# nothing\n");
    expect(() => readNodeList(join(dir, "empty.txt"))).toThrow(/names no node$/);
  });
});

describe("node list against random bytes", () => {
  it("either returns valid names or refuses with one line naming the file", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = Buffer.from(bytes).toString("utf8");
        try {
          const names = parseNodeList("r.txt", text);
          expect(new Set(names).size).toBe(names.length);
          // A name may start with ":" (::1), never with "-" (read as an option) or a shell character.
          for (const n of names) expect(n).toMatch(/^[A-Za-z0-9:][A-Za-z0-9._:-]*$/);
        } catch (error) {
          expect(error).toBeInstanceOf(NodeListError);
          expect((error as Error).message).toMatch(/^r\.txt(:\d+)?: /);
          expect((error as Error).message).not.toMatch(/\n/);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("test spec", () => {
  it("reads a command or tcp:PORT", () => {
    expect(parseTestSpec("ping -c1 {node}")).toEqual({ kind: "command", template: "ping -c1 {node}" });
    expect(parseTestSpec("tcp:22")).toEqual({ kind: "tcp", port: 22 });
    expect(parseTestSpec("tcp:70000")).toMatch(/port from 1 to 65535/);
    // Close to tcp:PORT but not it: refused, never run as a shell command.
    for (const close of ["TCP:22", "tcp:abc", "tcp: 22", " tcp:22", "tcp:22 ", "tcp:0", "tcp:022", "tcp :22"]) {
      expect(parseTestSpec(close), close).toMatch(/^--test/);
    }
  });
});
