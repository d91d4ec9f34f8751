import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";

/**
 * Probes for what some tests need from the host, in the style of the block-device tests: each
 * answers why the tests cannot run here (a reason to print in the skipped suite's title), or null
 * when they can. A container without loopback multicast, or without a resolver, then skips those
 * tests visibly instead of failing them. TESTBED_NO_MULTICAST=1 / TESTBED_NO_DNS=1 force the
 * skip, to see what a machine without them reports.
 */

/** How long a probe waits for its own datagram or the resolver's answer; the probe stops at the
 * first answer, so this bounds only a host that never answers. */
export const PROBE_WAIT_MS = 5_000;
/** The multicast probe resends this often, in case the first datagram is lost on a loaded host. */
const RESEND_MS = 200;

/**
 * Whether a datagram sent to a multicast group on `iface` comes back to a member socket: the
 * loopback multicast the Frisbee tests use (group joined on 127.0.0.1, loopback on).
 */
export async function multicastSkipReason(iface = "127.0.0.1", waitMs = PROBE_WAIT_MS): Promise<string | null> {
  if (process.env["TESTBED_NO_MULTICAST"] === "1") return "no loopback multicast (TESTBED_NO_MULTICAST=1)";
  // A group of our own (from the pid), so probes in test files running at once do not hear each other.
  const group = `239.197.${(process.pid >> 8) & 255}.${process.pid & 255}`;
  const socket = createSocket({ type: "udp4", reuseAddr: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string | null>((resolve) => {
      const fail = (why: string): void => resolve(`no loopback multicast on ${iface}: ${why}`);
      socket.on("error", (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
      socket.on("message", () => resolve(null));
      socket.bind(0, () => {
        try {
          socket.addMembership(group, iface);
          socket.setMulticastInterface(iface);
          socket.setMulticastLoopback(true);
          socket.setMulticastTTL(1);
        } catch (e) {
          fail(`cannot join ${group}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
          return;
        }
        const port = socket.address().port;
        const started = Date.now();
        const send = (): void => {
          if (Date.now() - started >= waitMs) return fail(`a datagram sent to ${group} did not come back within ${waitMs} ms`);
          socket.send("probe", port, group, (e) => (e === null || e === undefined ? undefined : fail(`send to ${group}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
          timer = setTimeout(send, RESEND_MS);
        };
        send();
      });
    });
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}

/**
 * Whether the system resolver answers: a name under .invalid (RFC 6761: never exists) must be
 * refused as unknown (ENOTFOUND), quickly. No resolver, or one that never answers, gives
 * another error or none in time.
 */
export async function dnsSkipReason(waitMs = PROBE_WAIT_MS): Promise<string | null> {
  if (process.env["TESTBED_NO_DNS"] === "1") return "no DNS resolver (TESTBED_NO_DNS=1)";
  const name = "no-such-host.invalid";
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no DNS: the resolver did not answer for ${name} within ${waitMs} ms`), waitMs)));
  const asked = lookup(name, { family: 4 }).then(
    () => `DNS answers for ${name}, which must not exist (a resolver that invents addresses)`,
    (e: NodeJS.ErrnoException) => (e.code === "ENOTFOUND" ? null : `no DNS: looking up ${name} gave ${e.code ?? e.message}, not ENOTFOUND`),
  );
  try {
    return await Promise.race([asked, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The title of a suite or test that may be skipped: its name, and the reason when it is, which is
 * also printed (as the block-device tests do), so a run that skipped it says so. */
export function titled(name: string, reason: string | null): string {
  if (reason === null) return name;
  console.warn(`skipped "${name}": ${reason}`);
  return `${name} (skipped: ${reason})`;
}
