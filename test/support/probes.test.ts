import { afterEach, describe, expect, it, vi } from "vitest";
import { dnsSkipReason, multicastSkipReason, titled } from "./probes.js";

describe("the host probes behind visible skips", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("names the interface when multicast cannot be joined there, instead of throwing", async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no host has it as an interface.
    expect(await multicastSkipReason("192.0.2.1")).toMatch(/^no loopback multicast on 192\.0\.2\.1: cannot join 239\.197\.\d+\.\d+: E[A-Z]+$/);
  });

  it("can be told there is no multicast or no DNS, to see what such a machine reports", async () => {
    vi.stubEnv("TESTBED_NO_MULTICAST", "1");
    vi.stubEnv("TESTBED_NO_DNS", "1");
    expect(await multicastSkipReason()).toBe("no loopback multicast (TESTBED_NO_MULTICAST=1)");
    expect(await dnsSkipReason()).toBe("no DNS resolver (TESTBED_NO_DNS=1)");
  });

  it("answers null or a reason, never throws, on this host", async () => {
    for (const r of [await multicastSkipReason(), await dnsSkipReason()]) expect(r === null || /^no (loopback multicast|DNS)/.test(r)).toBe(true);
  });

  it("prints the reason of a skipped test and puts it in its title", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(titled("a suite", null)).toBe("a suite");
    expect(warn).not.toHaveBeenCalled();
    expect(titled("a suite", "no DNS")).toBe("a suite (skipped: no DNS)");
    expect(warn).toHaveBeenCalledWith('skipped "a suite": no DNS');
    warn.mockRestore();
  });
});
