import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ChunkWrite } from "../../../core/frisbee/client.js";
import { Inflater, type Inflated } from "../../../real/frisbee/inflate.js";
import { inflateForDisk } from "../../../real/frisbee/inflate-chunk.js";
import { IMAGE, RAW } from "./support.js";

const MIB = 2 ** 20;
const image = readFileSync(IMAGE);
const chunk = (i: number): Uint8Array => image.subarray(i * MIB, (i + 1) * MIB);

function apply(disk: Uint8Array, writes: readonly ChunkWrite[]): void {
  for (const w of writes) {
    if (typeof w.data === "number") disk.fill(0, w.offsetBytes, w.offsetBytes + w.data);
    else disk.set(w.data, w.offsetBytes);
  }
}

function inflateAll(threads: 0 | 1, zeroFill: boolean): Promise<Inflated[]> {
  return new Promise((resolve) => {
    const got: Inflated[] = [];
    const inflater = new Inflater(zeroFill, (r) => {
      got.push(r);
      if (got.length === 2) void inflater.close().then(() => resolve(got));
    }, threads);
    inflater.inflate(1, chunk(1));
    inflater.inflate(0, chunk(0));
  });
}

describe("decompressing received chunks", () => {
  for (const threads of [1, 0] as const) {
    it(`${threads === 1 ? "on a worker thread" : "on the event loop"}: rebuilds the source disk from the chunks, in any order`, async () => {
      const disk = new Uint8Array(RAW.byteLength).fill(0x55);
      const results = await inflateAll(threads, false);
      for (const r of results) {
        expect(r.result.ok).toBe(true);
        if (r.result.ok) apply(disk, r.result.writes);
      }
      expect(Buffer.compare(disk, RAW)).toBe(0);
      expect(Math.max(...results.map((r) => r.endBytes))).toBe(RAW.byteLength);
    });
  }

  it("names the chunk and image byte of a corrupt chunk and gives nothing to write", () => {
    const bad = chunk(1).slice();
    bad[4096 + 500] = (bad[4096 + 500] as number) ^ 0xff;
    const reply = inflateForDisk({ chunk: 1, bytes: bad, zeroFill: false });
    expect(reply.ok).toBe(false);
    if (!reply.ok) expect(reply.error).toMatch(/^chunk 1 at image byte \d+: /);
  });

  it("refuses a chunk that claims another chunk's number", () => {
    const reply = inflateForDisk({ chunk: 0, bytes: chunk(1).slice(), zeroFill: false });
    expect(reply.ok).toBe(false);
  });

  it("pads a short last chunk before decoding it, and never throws on random bytes", () => {
    for (let i = 0; i < 50; i++) {
      const junk = new Uint8Array(1 + ((i * 7919) % MIB));
      for (let k = 0; k < junk.length; k += 97) junk[k] = (k * 31 + i) & 255;
      const reply = inflateForDisk({ chunk: i, bytes: junk, zeroFill: i % 2 === 0 });
      expect(reply.ok).toBe(false);
    }
  });
});
