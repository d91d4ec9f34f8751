import { describe, expect, it } from "vitest";
import { LinkTable, LINK_QUEUE_DROP } from "../../../sim/link.js";
import { LinkQueue } from "../../../sim/frisbee/chunk-model/link-queue.js";
import { ArrivingRequests } from "../../../sim/frisbee/chunk-model/containers.js";
import { BlockBitmap } from "../../../core/frisbee/bitmap.js";

const GBIT = 1e9;
const MIB = 1 << 20;

describe("the chunk model's link queue", () => {
  it("holds a herd of small requests as the packet model's link does: each for whole microseconds", () => {
    // A 180-byte partial request holds a 1 Gbit/s link for 1.44 us, counted as 2: a 1 MiB queue
    // takes 4,194 of a herd arriving at once, not the 5,825 its bytes would fill.
    const q = new LinkQueue(GBIT, MIB);
    const table = new LinkTable();
    const link = table.add({ bandwidthBps: GBIT, latencyUs: 0, queueBytesMax: MIB });
    let taken = 0;
    let takenPacket = 0;
    for (let k = 0; k < 8000; k++) {
      if (q.offer(1000, 180) >= 0) taken++;
      if (table.transmit(link, 1000, 180) !== LINK_QUEUE_DROP) takenPacket++;
    }
    expect(taken).toBe(takenPacket);
    expect(taken).toBe(4194);
  });

  it("drains in whole microseconds per packet and says how long each waited", () => {
    const q = new LinkQueue(GBIT, MIB);
    expect(q.offer(0, 180)).toBe(0);
    expect(q.offer(0, 180)).toBe(2);
    expect(q.offer(0, 180)).toBe(4);
    // Later, the link is idle again; an arrival a little out of order counts as at the last one.
    expect(q.offer(100, 180)).toBe(0);
    expect(q.offer(99, 180)).toBe(3);
  });

  it("agrees with the packet model's link on a mixed stream, packet by packet", () => {
    const q = new LinkQueue(100e6, 512 << 10);
    const table = new LinkTable();
    const link = table.add({ bandwidthBps: 100e6, latencyUs: 0, queueBytesMax: 512 << 10 });
    let t = 0;
    for (let k = 0; k < 20_000; k++) {
      t += k % 7 === 0 ? 40 : 0;
      const bytes = k % 3 === 0 ? 1100 : 180;
      const wait = q.offer(t, bytes);
      const arrival = table.transmit(link, t, bytes);
      expect(wait < 0, `packet ${k}`).toBe(arrival === LINK_QUEUE_DROP);
      if (wait >= 0) expect(t + wait + Math.ceil((bytes * 8) / 100)).toBe(arrival);
    }
  });
});

describe("requests on their way into the server", () => {
  it("reach it in order, each when its time has come, with the blocks it asked for", () => {
    const a = new ArrivingRequests();
    const blocks = (b: number): BlockBitmap => {
      const m = new BlockBitmap();
      m.set(b);
      return m;
    };
    a.push(10, 1, blocks(1));
    a.push(12, 2, blocks(2));
    a.push(30, 3, blocks(3));
    expect(a.firstUs).toBe(10);
    const seen: [number, boolean][] = [];
    a.takeUntil(12, (chunk, m) => seen.push([chunk, m.has(chunk)]));
    expect(seen).toEqual([
      [1, true],
      [2, true],
    ]);
    expect(a.size).toBe(1);
    expect(a.firstUs).toBe(30);
    a.takeUntil(29, () => expect.unreachable());
    a.takeUntil(30, (chunk) => seen.push([chunk, true]));
    expect(a.size).toBe(0);
    expect(a.firstUs).toBe(Infinity);
  });
});
