import { afterEach, describe, expect, it, vi } from "vitest";
import { progressLine } from "../../bin/frisbee-real-command.js";
import type { ClientProgress } from "../../real/frisbee/client.js";

const options = { group: "239.1.2.3", port: 7700, iface: null, targetPath: "t.img", zeroFill: false, fixedSize: false, heartbeatSec: 0 };
const waiting = (elapsedUs: number): ClientProgress => ({ joined: false, chunks: 0, chunksWritten: 0, bytesWritten: 0, elapsedUs, serverSilentUs: elapsedUs });

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the frisbee client's progress line", () => {
  it("shows that it is waiting, for which group and port and how long, and says so once on stderr after a second", () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const labels: string[] = [];
    const line = progressLine({ ...options, timeoutSec: 30 }, { update: (_f: number, label?: string) => void labels.push(label ?? ""), done: () => {} } as never);
    line(waiting(200_000));
    expect(written).toEqual([]);
    line(waiting(1_200_000));
    line(waiting(7_900_000));
    expect(labels).toEqual(["waiting for a frisbeed on 239.1.2.3 port 7700, 0 s", "waiting for a frisbeed on 239.1.2.3 port 7700, 1 s", "waiting for a frisbeed on 239.1.2.3 port 7700, 7 s"]);
    expect(written).toEqual(["frisbee: waiting for a frisbeed on group 239.1.2.3 port 7700 (asking every second; giving up after 30 s)\n"]);
  });

  it("shows chunks and speed once joined", () => {
    const labels: string[] = [];
    const line = progressLine(options, { update: (_f: number, label?: string) => void labels.push(label ?? ""), done: () => {} } as never);
    line({ joined: true, chunks: 4, chunksWritten: 1, bytesWritten: 2 ** 21, elapsedUs: 1_000_000, serverSilentUs: 0 });
    expect(labels).toEqual(["chunks 1/4 2.0 MiB/s"]);
  });
});
