import { describe, expect, it } from "vitest";
import { Reader, ScenarioError, type Json } from "../../scenarios/reader.js";
import { selectHosts } from "../../scenarios/selectors.js";

const PATH = "workloads[0].from";
const HOSTS = ["server", ...Array.from({ length: 60 }, (_, i) => `client${i}`), "client050x", "clientele", "backup", "db.1", "dbx1"];

function select(selector: Json): string[] {
  return selectHosts(new Reader("x.json", PATH, selector), HOSTS).map((id) => HOSTS[id] as string);
}

function failureOf(selector: Json): string {
  try {
    select(selector);
  } catch (error) {
    if (error instanceof ScenarioError) return error.message;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(selector)} to be refused`);
}

describe("selectHosts", () => {
  it("picks one host by its exact name", () => {
    expect(select("client7")).toEqual(["client7"]);
  });

  it("does not treat an exact name as a prefix", () => {
    expect(select("client5")).not.toContain("client50");
  });

  it("picks every host whose name a glob matches", () => {
    const chosen = select("client*");
    expect(chosen).toHaveLength(62);
    expect(chosen).toContain("clientele");
    expect(chosen).not.toContain("server");
  });

  it("picks every host with a bare star", () => {
    expect(select("*")).toEqual(HOSTS);
  });

  it("treats a dot in a glob as a dot, not as any character", () => {
    expect(select("db.*")).toEqual(["db.1"]);
  });

  it("picks a range of numbered hosts, both ends included", () => {
    const chosen = select("client[0-49]");
    expect(chosen).toHaveLength(50);
    expect(chosen[0]).toBe("client0");
    expect(chosen.at(-1)).toBe("client49");
    expect(chosen).not.toContain("client50");
  });

  it("does not let a range match a name with more after the number", () => {
    expect(select("client[40-60]")).not.toContain("client050x");
    expect(select("client[40-60]")).toHaveLength(20);
  });

  it("picks the union of a list of selectors", () => {
    expect(select(["server", "client[1-2]", "backup"])).toEqual(["server", "client1", "client2", "backup"]);
  });

  it("keeps the order hosts were declared in, whatever the order of the list", () => {
    expect(select(["backup", "client3", "server", "client1"])).toEqual(["server", "client1", "client3", "backup"]);
  });

  it("picks a host once even when several selectors match it", () => {
    expect(select(["client1", "client[0-2]", "client1"])).toEqual(["client0", "client1", "client2"]);
  });

  it("refuses a selector that matches nothing, naming the field", () => {
    expect(failureOf("nobody*")).toBe(`x.json: ${PATH}: "nobody*" matches no host`);
  });

  it("refuses a list in which one selector matches nothing", () => {
    expect(failureOf(["server", "ghost"])).toBe(`x.json: ${PATH}: "ghost" matches no host`);
  });

  it("refuses a range whose start is after its end", () => {
    expect(failureOf("client[9-3]")).toBe(`x.json: ${PATH}: "client[9-3]": range start 9 is after its end 3`);
  });

  it("refuses an empty list", () => {
    expect(failureOf([])).toBe(`x.json: ${PATH}: expected at least one host selector`);
  });

  it("refuses a pattern with characters no host name has", () => {
    expect(failureOf("client?")).toBe(
      `x.json: ${PATH}: "client?" is not a host selector (use a name, a glob like "client*" or a range like "client[0-9]")`,
    );
  });

  it("refuses a selector that is not a string, naming the list item", () => {
    expect(failureOf(["server", 3])).toBe(`x.json: ${PATH}[1]: expected a string, got 3`);
  });
});
