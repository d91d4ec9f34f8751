import { describe, expect, it } from "vitest";
import { PORT_MAX, PORT_MIN, PROCESS_NAME_PATTERN, assignPorts, checkPortRange, parsePortRange, rangesOverlap, substitute } from "../../../core/service/index.js";

describe("service definition: an experiment's port range", () => {
  it("reads FIRST-LAST within 1024-65535, trimmed, and nothing else", () => {
    expect(parsePortRange(" 20000-20099 ")).toEqual({ first: 20000, last: 20099 });
    expect(parsePortRange(`${PORT_MIN}-${PORT_MAX}`)).toEqual({ first: 1024, last: 65535 });
    expect(parsePortRange("20000-20000")).toEqual({ first: 20000, last: 20000 });
    for (const bad of ["1023-2000", "2000-65536", "3000-2000", "20000", "20000-", "a-b", "x20000-20099", "20000-20099y", "123456-123457", "20000 - 20099"]) {
      expect(parsePortRange(bad), bad).toBeNull();
    }
  });

  it("names a range outside the allowed ports or backwards", () => {
    expect(checkPortRange({ first: 1024, last: 1024 })).toBeNull();
    expect(checkPortRange({ first: 1023, last: 2000 })).toBe("expected ports FIRST-LAST within 1024-65535, got 1023-2000");
    expect(checkPortRange({ first: 2000, last: 65536 })).toMatch(/got 2000-65536$/);
    expect(checkPortRange({ first: 2001, last: 2000 })).toMatch(/got 2001-2000$/);
    expect(checkPortRange({ first: 2000.5, last: 3000 })).not.toBeNull();
    expect(checkPortRange({ first: 2000, last: 3000.5 })).not.toBeNull();
  });

  it("sees two experiments' ranges collide when they share even one port", () => {
    const a = { first: 20000, last: 20099 };
    expect(rangesOverlap(a, { first: 20099, last: 20199 })).toBe(true);
    expect(rangesOverlap(a, { first: 19900, last: 20000 })).toBe(true);
    expect(rangesOverlap(a, { first: 20010, last: 20020 })).toBe(true);
    expect(rangesOverlap({ first: 20010, last: 20020 }, a)).toBe(true);
    expect(rangesOverlap(a, { first: 20100, last: 20199 })).toBe(false);
    expect(rangesOverlap(a, { first: 19900, last: 19999 })).toBe(false);
  });

  it("gives each process its ports in order from the range, and says when the range is too small", () => {
    const range = { first: 20000, last: 20004 };
    expect(assignPorts(range, [{ name: "a", ports: 2 }, { name: "b", ports: 0 }, { name: "c", ports: 3 }])).toEqual([[20000, 20001], [], [20002, 20003, 20004]]);
    expect(assignPorts(range, [{ name: "a", ports: 2 }, { name: "b", ports: 4 }])).toBe('the port range 20000-20004 holds 5 ports, too few for process "b" and those before it');
    expect(assignPorts(range, [{ name: "a", ports: 6 }])).toMatch(/too few for process "a"/);
    expect(assignPorts(range, [])).toEqual([]);
  });

  it("puts ports, the node and the directory into a command, leaving other braces alone", () => {
    const values = { ports: [20000, 20001], node: "n3", dir: "/srv/x" };
    expect(substitute(["run", "--port={port}", "{port1}", "{port0}", "{node}:{dir}", "{port7}", "{other}", "{}"], values)).toEqual([
      "run",
      "--port=20000",
      "20001",
      "20000",
      "n3:/srv/x",
      "{port7}",
      "{other}",
      "{}",
    ]);
    expect(substitute(["{port}"], { ports: [], node: "n", dir: "d" })).toEqual(["{port}"]);
  });

  it("takes process names of letters, digits, dot, dash and underscore, up to 64", () => {
    expect(PROCESS_NAME_PATTERN.test("web-1.a_b")).toBe(true);
    expect(PROCESS_NAME_PATTERN.test("a".repeat(64))).toBe(true);
    expect(PROCESS_NAME_PATTERN.test("a".repeat(65))).toBe(false);
    expect(PROCESS_NAME_PATTERN.test("-web")).toBe(false);
    expect(PROCESS_NAME_PATTERN.test("we b")).toBe(false);
  });
});
