import { describe, expect, it } from "vitest";
import { bindSamePort, BIND_ATTEMPTS_MAX, type PortPair } from "../../../real/sync/bind.js";

const inUse = (): NodeJS.ErrnoException => Object.assign(new Error("in use"), { code: "EADDRINUSE" });

/** A fake pair: the kernel hands out 40000, 40001, ...; the second socket finds the first `busy` numbers taken. */
function pair(busy: number, failure: () => Error = inUse) {
  let next = 40_000;
  const log: string[] = [];
  const p: PortPair = {
    first: async (port) => {
      const got = port === 0 ? next++ : port;
      log.push(`first ${got}`);
      return got;
    },
    second: async (port) => {
      if (busy-- > 0) {
        log.push(`second ${port} refused`);
        throw failure();
      }
      log.push(`second ${port}`);
    },
    releaseFirst: async () => void log.push("release"),
  };
  return { p, log };
}

describe("binding TCP and UDP on one port number", () => {
  it("tries another number the kernel picks when the second socket finds the first's taken", async () => {
    const { p, log } = pair(2);
    expect(await bindSamePort(0, p)).toBe(40_002);
    expect(log).toEqual(["first 40000", "second 40000 refused", "release", "first 40001", "second 40001 refused", "release", "first 40002", "second 40002"]);
  });

  it("gives up after its named number of attempts with the last error", async () => {
    const { p, log } = pair(Infinity);
    await expect(bindSamePort(0, p)).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(log.filter((l) => l.startsWith("first"))).toHaveLength(BIND_ATTEMPTS_MAX);
  });

  it("tries a port the user chose once, and any other failure once", async () => {
    const chosen = pair(1);
    await expect(bindSamePort(16_534, chosen.p)).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(chosen.log).toEqual(["first 16534", "second 16534 refused", "release"]);
    const other = pair(1, () => Object.assign(new Error("denied"), { code: "EACCES" }));
    await expect(bindSamePort(0, other.p)).rejects.toMatchObject({ code: "EACCES" });
  });
});
