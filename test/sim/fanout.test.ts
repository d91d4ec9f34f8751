import { describe, expect, it } from "vitest";
import { FanOutPool, type Batch } from "../../sim/fanout.js";

function hostsOf(batch: Batch<string>): number[] {
  const fanOut = batch.fanOut!;
  return fanOut.hosts.slice(batch.start, batch.end);
}

describe("FanOutPool", () => {
  it("lays a packet's batches out as consecutive runs of one host list", () => {
    const pool = new FanOutPool<string>();
    const fanOut = pool.begin("p");
    const first = pool.batch(fanOut, 100);
    pool.add(first, 3);
    pool.add(first, 5);
    const second = pool.batch(fanOut, 120);
    pool.add(second, 8);
    pool.end(fanOut);
    expect(hostsOf(first)).toEqual([3, 5]);
    expect(hostsOf(second)).toEqual([8]);
    expect(fanOut.pending).toBe(2);
  });

  it("recycles a fan-out only after its last batch is delivered, so a new packet cannot overwrite pending hosts", () => {
    const pool = new FanOutPool<string>();
    const a = pool.begin("a");
    const a1 = pool.batch(a, 10);
    pool.add(a1, 1);
    const a2 = pool.batch(a, 20);
    pool.add(a2, 2);
    pool.end(a);
    pool.delivered(a1);
    const b = pool.begin("b");
    expect(b).not.toBe(a);
    const b1 = pool.batch(b, 30);
    pool.add(b1, 9);
    pool.end(b);
    expect(hostsOf(a2)).toEqual([2]);
    pool.delivered(a2);
    const c = pool.begin("c");
    expect(c).toBe(a);
    expect(c.count).toBe(0);
    expect(hostsOf(b1)).toEqual([9]);
  });

  it("recycles at once a fan-out none of whose copies got through", () => {
    const pool = new FanOutPool<string>();
    const lost = pool.begin("lost");
    pool.end(lost);
    expect(pool.begin("next")).toBe(lost);
  });
});
