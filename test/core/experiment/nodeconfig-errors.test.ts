import { describe, expect, it } from "vitest";
import { parseKeyValues, parseLoadInfo, parseRequest, parseSyncServer } from "../../../core/experiment/index.js";

/** What a loader or tmcc client reads from tmcd's lines, and the exact line it prints when it cannot. */
const good = "ADDR=239.192.1.7:7701 PART=1 PARTOS=Linux DISK=ad0 ZFILL=0 IMAGEID=testbed,testbed,std IMAGECHUNKS=12";
const without = (key: string): string => good.split(" ").filter((w) => !w.startsWith(`${key}=`)).join(" ");
const withWord = (word: string): string => `${good} ${word}`;

describe("parseLoadInfo", () => {
  it("reads the fields a loader needs, with the defaults when they are absent", () => {
    expect(parseLoadInfo(good)).toEqual({ group: "239.192.1.7", port: 7701, partition: 1, heartbeatSec: 0, imageName: "std", delta: null });
    expect(parseLoadInfo(without("IMAGEID"))).toMatchObject({ imageName: "" });
    expect(parseLoadInfo(`${without("IMAGEID")} IMAGEID=a,b`)).toMatchObject({ imageName: "" });
    expect(parseLoadInfo(withWord("HEARTBEAT=0"))).toMatchObject({ heartbeatSec: 0 });
    expect(parseLoadInfo(good.replace("PART=1", "PART=0"))).toMatchObject({ partition: 0 });
    expect(parseLoadInfo(good.replace("PART=1", "PART=123"))).toMatchObject({ partition: 123 });
    expect(parseLoadInfo(good.replace(":7701", ":1"))).toMatchObject({ port: 1 });
    expect(parseLoadInfo(good.replace(":7701", ":65535"))).toMatchObject({ port: 65_535 });
  });

  it("names what is wrong, quoting at most 80 characters of the line", () => {
    const long = `ADDR=x ${"Z".repeat(100)}`;
    expect(parseLoadInfo(long)).toBe(`loadinfo: ADDR is not group:port in "${long.slice(0, 80)}"`);
    expect(parseLoadInfo(without("ADDR"))).toBe(`loadinfo: ADDR is not group:port in "${without("ADDR").slice(0, 80)}"`);
    for (const addr of ["x239.192.1.7:7701", "239.192.1.7:7701x", "239.192.1.7", "239.192.1:7701"]) {
      const line = good.replace("239.192.1.7:7701", addr);
      expect(parseLoadInfo(line), addr).toBe(`loadinfo: ADDR is not group:port in "${line.slice(0, 80)}"`);
    }
    expect(parseLoadInfo(good.replace(":7701", ":0"))).toBe("loadinfo: port 0 is out of range");
    expect(parseLoadInfo(good.replace(":7701", ":65536"))).toBe("loadinfo: port 65536 is out of range");
    const longPart = `${good.replace("PART=1", "PART=x")} ${"Y".repeat(100)}`;
    expect(parseLoadInfo(longPart)).toBe(`loadinfo: PART is not a partition number in "${longPart.slice(0, 80)}"`);
    for (const part of ["PART=1234", "PART=x1", "PART=1x", "PART=", "PART=-1"]) {
      const line = good.replace("PART=1", part);
      expect(parseLoadInfo(line), part).toBe(`loadinfo: PART is not a partition number in "${line.slice(0, 80)}"`);
    }
    for (const hb of ["HEARTBEAT=-1", "HEARTBEAT=1.5", "HEARTBEAT=x"]) expect(parseLoadInfo(withWord(hb)), hb).toBe("loadinfo: HEARTBEAT is not whole seconds");
  });
});

describe("parseKeyValues", () => {
  it("takes the first of a repeated key, quoted values without their quotes, and keys only at a word's start", () => {
    const kv = parseKeyValues("A=1 A=2 B='x y' C= -D=4 9E=5");
    expect([...kv]).toEqual([["A", "1"], ["B", "x y"], ["C", ""]]);
    expect(parseKeyValues("D=4").get("D")).toBe("4");
    expect(parseKeyValues("\tD=4").get("D")).toBe("4");
  });
});

describe("parseRequest", () => {
  it("reads one command in any case and with any spacing, dropping only a whole VERSION=n word", () => {
    expect(parseRequest("  LoadInfo  ")).toEqual({ ok: true, command: "loadinfo" });
    expect(parseRequest("VERSION=43\tnodeid")).toEqual({ ok: true, command: "nodeid" });
    expect(parseRequest("")).toEqual({ ok: false, why: "empty request" });
    expect(parseRequest("VERSION=43")).toEqual({ ok: false, why: "empty request" });
    expect(parseRequest("VERSION=4x ready")).toEqual({ ok: false, why: "expected one command, got 2 words" });
    expect(parseRequest("XVERSION=4 ready")).toEqual({ ok: false, why: "expected one command, got 2 words" });
    expect(parseRequest("VERSION=4x")).toEqual({ ok: false, why: 'unknown command "version=4x"' });
    expect(parseRequest("a".repeat(40))).toEqual({ ok: false, why: `unknown command "${"a".repeat(32)}"` });
  });
});

describe("parseSyncServer", () => {
  it("reads the server, the default port 16534 and whether this node runs it", () => {
    expect(parseSyncServer("SYNCSERVER SERVER='node0' ISSERVER=0")).toEqual({ server: "node0", port: 16534, isServer: false });
    expect(parseSyncServer("SYNCSERVER SERVER='node0' ISSERVER=1 PORT=1")).toEqual({ server: "node0", port: 1, isServer: true });
    expect(parseSyncServer("SYNCSERVER SERVER='node0' ISSERVER=1 PORT=65535")).toMatchObject({ port: 65_535 });
  });

  it("gives nothing for a line that is not a usable SYNCSERVER answer", () => {
    for (const line of [
      "",
      "SERVER='node0' ISSERVER=0",
      "XSYNCSERVER SERVER='node0' ISSERVER=0",
      "SYNCSERVER ISSERVER=0",
      "SYNCSERVER SERVER='' ISSERVER=0",
      "SYNCSERVER SERVER='node0'",
      "SYNCSERVER SERVER='node0' ISSERVER=2",
      "SYNCSERVER SERVER='node0' ISSERVER=0 PORT=0",
      "SYNCSERVER SERVER='node0' ISSERVER=0 PORT=65536",
      "SYNCSERVER SERVER='node0' ISSERVER=0 PORT=1.5",
      "SYNCSERVER SERVER='node0' ISSERVER=0 PORT=x",
    ]) expect(parseSyncServer(line), line).toBeNull();
  });
});
