import { describe, expect, it } from "vitest";
import { NETNS_DIR, netnsCommand, withoutNetns } from "../../bin/agent-netns.js";

/**
 * `testbed agent --netns NAME` without root: what it runs, and what it refuses. The agent run in a
 * namespace for real is test/real/agent/netns.test.ts (root only; it says why it skips otherwise).
 */
const host = (uid: number | null, have: string[] = ["ns1"]) => ({
  uid,
  exists: (p: string) => have.some((n) => p === `${NETNS_DIR}/${n}`),
  execPath: "/usr/bin/node",
  argv: ["/usr/bin/node", "/opt/testbed/dist/bin/testbed.js", "agent", "--netns", "ns1", "--listen", "10.0.0.11:7080", "--key", "k", "--netns=ns1", "--dir", "d"],
});

describe("agent --netns", () => {
  it("starts the same agent again inside the namespace, without --netns", () => {
    expect(netnsCommand("ns1", host(0))).toEqual(["ip", "netns", "exec", "ns1", "/usr/bin/node", "/opt/testbed/dist/bin/testbed.js", "agent", "--listen", "10.0.0.11:7080", "--key", "k", "--dir", "d"]);
    expect(withoutNetns(["--netns", "a", "--x", "--netns=b", "y"])).toEqual(["--x", "y"]);
  });

  it("refuses in one line: not root, no such namespace, a name that is not one", () => {
    expect(() => netnsCommand("ns1", host(1000))).toThrow(/^--netns: entering network namespace ns1 needs root/);
    expect(() => netnsCommand("ns1", host(null))).toThrow(/needs root/);
    expect(() => netnsCommand("ns2", host(0))).toThrow(`--netns: no network namespace ns2 (${NETNS_DIR}/ns2 is missing; ip netns add ns2 makes one)`);
    for (const bad of ["", "../etc", "a b", "x".repeat(65)]) expect(() => netnsCommand(bad, host(0))).toThrow(/^--netns: expected a namespace name/);
  });
});
