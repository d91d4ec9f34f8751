import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadInfoLine, parseKeyValues, parseLoadInfo, parseRequest, parseSyncServer, readyCountLine, syncServerLine } from "../../../core/experiment/index.js";

const info = { group: "239.192.1.7", port: 7701, partition: 1, os: "Linux", disk: "ad0", zeroFill: false, project: "testbed", imageName: "std", chunks: 12, heartbeatSec: 0, delta: null };

describe("tmcd answers", () => {
  it("gives loadinfo in the original's words, with HEARTBEAT only when the site variable is above 0", () => {
    expect(loadInfoLine(info)).toBe("ADDR=239.192.1.7:7701 PART=1 PARTOS=Linux DISK=ad0 ZFILL=0 IMAGEID=testbed,testbed,std IMAGECHUNKS=12");
    expect(loadInfoLine({ ...info, heartbeatSec: 5 })).toMatch(/ HEARTBEAT=5$/);
    expect(parseLoadInfo(loadInfoLine({ ...info, heartbeatSec: 5, delta: "d-node3-1" }))).toEqual({ group: "239.192.1.7", port: 7701, partition: 1, heartbeatSec: 5, imageName: "std", delta: "d-node3-1" });
  });

  it("gives SYNCSERVER with the original's quotes, naming a port only when it is not 16534", () => {
    expect(syncServerLine({ server: "127.0.1.3", port: 16534, isServer: false })).toBe("SYNCSERVER SERVER='127.0.1.3' ISSERVER=0");
    expect(syncServerLine({ server: "node0.exp1.testbed", port: 17000, isServer: true })).toBe("SYNCSERVER SERVER='node0.exp1.testbed' ISSERVER=1 PORT=17000");
    expect(syncServerLine(null)).toBe("");
    expect(parseSyncServer("SYNCSERVER SERVER='node0.exp1.testbed' ISSERVER=1 PORT=17000")).toEqual({ server: "node0.exp1.testbed", port: 17000, isServer: true });
    expect(parseSyncServer("SYNCSERVER SERVER='x' ISSERVER=2")).toBeNull();
    expect(readyCountLine(3, 40)).toBe("READY=3 TOTAL=40");
  });

  it("reads keys exactly: BOOTPART is never PART", () => {
    const kv = parseKeyValues("ADDR=239.1.1.1:5 BOOTPART=2 PART=1 XHEARTBEAT=9");
    expect(kv.get("PART")).toBe("1");
    expect(kv.get("HEARTBEAT")).toBeUndefined();
    expect(parseLoadInfo("ADDR=239.1.1.1:5 BOOTPART=2")).toBe('loadinfo: PART is not a partition number in "ADDR=239.1.1.1:5 BOOTPART=2"');
  });

  it("parses one command per request, after an optional VERSION word", () => {
    expect(parseRequest("VERSION=43 loadinfo\n")).toEqual({ ok: true, command: "loadinfo" });
    expect(parseRequest("readycount")).toEqual({ ok: true, command: "readycount" });
    expect(parseRequest("reboot now")).toEqual({ ok: false, why: "expected one command, got 2 words" });
    expect(parseRequest("shell")).toEqual({ ok: false, why: 'unknown command "shell"' });
  });

  it("never throws on random text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        parseRequest(text);
        parseKeyValues(text);
        parseSyncServer(text);
        const r = parseLoadInfo(text);
        expect(typeof r === "string" || typeof r === "object").toBe(true);
      }),
    );
  });
});
