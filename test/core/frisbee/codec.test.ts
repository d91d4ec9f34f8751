import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BLOCK_DATA_AT,
  CLIENT_STATS_LAYOUT,
  blockChunkOf,
  blockIndexOf,
  decode,
  encodeBlockInto,
  isWellFormedBlock,
  encode,
  encodeFromHost,
  ipv4ToNumber,
  numberToIpv4,
  validBlock,
  type BlockMessage,
  type DecodeResult,
} from "../../../core/frisbee/codec.js";
import {
  CLIENT_STATS_FIELDS,
  WIRE_BYTES,
  emptyStats,
  msg,
  type ClientStats,
  type FrisbeeMessage,
  type ProgressLevel,
} from "../../../core/frisbee/messages.js";
import { emulabFixture } from "../../fixtures/emulab.js";
import { breathe } from "../../support/breathe.js";

// ---------------------------------------------------------------------------------------------
// The fixture: datagrams captured from the original Emulab programs. Required.

const FIXTURE_PATH = emulabFixture("frisbee.json");
const NDZ_PATH = emulabFixture("disk-4mib.ndz");

interface FixtureHeader { type: number; subtype: number; datalen: number; srcip: string }
interface FixtureDatagram {
  kind?: string;
  length: number;
  hex?: string;
  hex_first_64_bytes?: string;
  header: FixtureHeader;
  body: Record<string, unknown>;
  layout?: string[];
}
interface Fixture {
  kinds: FixtureDatagram[];
  handmade_requests: { request: FixtureDatagram; reply: FixtureDatagram }[];
}

const fixture = JSON.parse(readFileSync(FIXTURE_PATH, "utf8")) as Fixture;
const ndz = new Uint8Array(readFileSync(NDZ_PATH));
const LOCALHOST = 0x7f000001;

const golden: { name: string; datagram: FixtureDatagram }[] = [
  ...fixture.kinds.map((datagram) => ({ name: datagram.kind ?? "?", datagram })),
  ...fixture.handmade_requests.flatMap(({ request, reply }, i) => [
    { name: `hand-made request ${i + 1}`, datagram: request },
    { name: `hand-made request ${i + 1}, the server's reply`, datagram: reply },
  ]),
];

const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const EXPECTED_TYPE: Record<string, FrisbeeMessage["type"]> = {
  "1/1": "join", "2/1": "joinReply", "1/2": "leave", "1/3": "block", "1/4": "request",
  "1/5": "leave2", "1/6": "prequest", "1/7": "join2", "2/7": "join2Reply",
};

/** The datagram's full bytes. The capture gives only the first 64 bytes of one BLOCK: its data is the image's. */
function datagramBytes(d: FixtureDatagram): Uint8Array {
  if (d.hex !== undefined) return fromHex(d.hex);
  const prefix = fromHex(d.hex_first_64_bytes ?? "");
  const view = new DataView(prefix.buffer);
  const chunk = view.getInt32(16, true);
  const block = view.getInt32(20, true);
  const start = chunk * 1024 * 1024 + block * 1024;
  const bytes = new Uint8Array(d.length);
  bytes.set(prefix.subarray(0, 24));
  bytes.set(ndz.subarray(start, start + 1024), 24);
  expect(toHex(bytes.subarray(0, 64))).toBe(d.hex_first_64_bytes);
  return bytes;
}

function blockRanges(bitmap: Uint8Array): string[] {
  const ranges: string[] = [];
  let first = -1;
  for (let b = 0; b <= bitmap.length * 8; b++) {
    const set = b < bitmap.length * 8 && ((bitmap[b >> 3] as number) & (1 << (b & 7))) !== 0;
    if (set && first < 0) first = b;
    if (!set && first >= 0) {
      ranges.push(first === b - 1 ? `${first}` : `${first}-${b - 1}`);
      first = -1;
    }
  }
  return ranges;
}

/** Checks every field the fixture decoded against our message; a field we cannot check fails the test. */
function expectBody(message: FrisbeeMessage, body: Record<string, unknown>, bytes: Uint8Array): void {
  const m = message as unknown as Record<string, unknown>;
  const same: Record<string, string> = {
    clientid: "clientId", blockcount: "blockCount", chunksize_blocks: "chunkBlocks", blocksize_bytes: "blockBytes",
    bytecount: "byteCount", chunk: "chunk", block: "block", count: "count", retries: "retries", elapsed: "elapsedSec",
  };
  for (const [key, value] of Object.entries(body)) {
    const ours = same[key];
    if (ours !== undefined) {
      expect(m[ours], key).toBe(value);
    } else if (key === "bitmap_bytes") {
      expect((m["bitmap"] as Uint8Array).length).toBe(value);
    } else if (key === "blocks_requested") {
      const bitmap = m["bitmap"] as Uint8Array;
      expect(blockRanges(bitmap).reduce((n, r) => n + (Number(r.split("-")[1] ?? r) - Number(r.split("-")[0]) + 1), 0)).toBe(value);
    } else if (key === "requested_block_ranges") {
      expect(blockRanges(m["bitmap"] as Uint8Array)).toEqual(value);
    } else if (key === "data_bytes") {
      expect((m["data"] as Uint8Array).length).toBe(value);
    } else if (key === "stats") {
      const stats = value as { version: number; v1: ClientStats; v1_bytes: number; stats_struct_bytes: number; remaining_bytes_all_zero: boolean };
      expect(stats.version).toBe(1);
      expect(m["stats"]).toEqual(stats.v1);
      expect(bytes.length - 24).toBe(stats.stats_struct_bytes);
      expect(bytes.subarray(24 + 4 + stats.v1_bytes).every((b) => b === 0)).toBe(stats.remaining_bytes_all_zero);
    } else {
      throw new Error(`fixture body field "${key}" is not checked by this test`);
    }
  }
}

describe("codec against datagrams captured from the original Frisbee", () => {
  it("has every captured kind to test against", () => {
    const types = new Set(golden.map(({ datagram: d }) => `${d.header.type}/${d.header.subtype}`));
    expect([...types].sort()).toEqual(["1/1", "1/3", "1/4", "1/5", "1/6", "1/7", "2/1", "2/7"]);
  });

  it.each(golden)("decodes $name to the fields the capture lists, from 127.0.0.1", ({ datagram }) => {
    const bytes = datagramBytes(datagram);
    expect(bytes.length).toBe(datagram.length);
    const result = decode(bytes);
    if (!result.ok) throw new Error(result.error);
    expect(result.srcIp).toBe(LOCALHOST);
    expect(numberToIpv4(result.srcIp)).toBe(datagram.header.srcip);
    const { type, subtype, datalen } = datagram.header;
    expect(result.message.type).toBe(EXPECTED_TYPE[`${type}/${subtype}`]);
    expect(result.message.wireBytes).toBe(16 + datalen);
    expectBody(result.message, datagram.body, bytes);
  });

  it.each(golden)("encodes $name back to the captured bytes, byte for byte", ({ datagram }) => {
    const bytes = datagramBytes(datagram);
    const result = decode(bytes);
    if (!result.ok) throw new Error(result.error);
    expect(toHex(encode(result.message, result.srcIp))).toBe(toHex(bytes));
  });

  it("carries in each BLOCK the image's bytes at chunk * 1 MiB + block * 1 KiB", () => {
    for (const { datagram } of golden.filter(({ datagram: d }) => d.header.subtype === 3)) {
      const result = decode(datagramBytes(datagram));
      if (!result.ok || result.message.type !== "block") throw new Error("not a block");
      const start = result.message.chunk * 1024 * 1024 + result.message.block * 1024;
      expect(toHex(result.message.data ?? new Uint8Array())).toBe(toHex(ndz.subarray(start, start + 1024)));
    }
  });

  it("lays out the v1 stats at the offsets the capture's LEAVE2 layout lists", () => {
    const leave2 = fixture.kinds.find((d) => d.header.subtype === 5);
    const listed = (leave2?.layout ?? []).flatMap((line) => {
      const m = /^(\d+) (int32|uint32|uint64) (\w+)$/.exec(line);
      return m === null ? [] : [[Number(m[1]), m[2], m[3]] as const];
    });
    let offset = 28;
    const ours = CLIENT_STATS_LAYOUT.map(([field, kind]) => {
      const entry = [offset, kind, field] as const;
      offset += kind === "uint64" ? 8 : 4;
      return entry;
    });
    expect(ours).toEqual(listed);
    expect(CLIENT_STATS_LAYOUT.map(([field]) => field)).toEqual(CLIENT_STATS_FIELDS);
  });
});

// ---------------------------------------------------------------------------------------------
// Arbitrary valid messages

const int32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const uint32 = fc.oneof(fc.constantFrom(0, 0xffff_ffff, 0x8000_0000), fc.integer({ min: 0, max: 0xffff_ffff }));
const uint64 = fc.oneof(fc.constantFrom(0, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
const chunkNumber = fc.integer({ min: 0, max: 0x7fff_ffff });
const level = fc.constantFrom<ProgressLevel>(0, 1, 2);

const stats: fc.Arbitrary<ClientStats> = fc.record(
  Object.fromEntries(
    CLIENT_STATS_LAYOUT.map(([field, kind]) => [field, kind === "int32" ? int32 : kind === "uint32" ? uint32 : uint64]),
  ) as Record<keyof ClientStats, fc.Arbitrary<number>>,
);

const join2Fields = fc.record({ clientId: uint32, blockCount: int32, chunkBlocks: int32, blockBytes: int32, byteCount: uint64 });

/** One arbitrary per message type, in the order of MessageType. */
const messageKinds: fc.Arbitrary<FrisbeeMessage>[] = [
  uint32.map((id) => msg.join(id)),
  int32.map((count) => msg.joinReply(count)),
  join2Fields.map((f): FrisbeeMessage => ({ type: "join2", wireBytes: WIRE_BYTES.join2, ...f })),
  join2Fields.map((f): FrisbeeMessage => ({ type: "join2Reply", wireBytes: WIRE_BYTES.join2Reply, ...f })),
  fc.tuple(uint32, int32).map(([id, sec]) => msg.leave(id, sec)),
  fc.tuple(uint32, int32, stats).map(([id, sec, s]) => msg.leave2(id, sec, s)),
  fc
    .tuple(chunkNumber, fc.integer({ min: 0, max: 1023 }), fc.option(fc.uint8Array({ minLength: 1024, maxLength: 1024 })))
    .map(([chunk, block, data]) => msg.block(chunk, block, data)),
  fc
    .tuple(chunkNumber, fc.integer({ min: 0, max: 1024 }))
    .chain(([chunk, block]) => fc.integer({ min: 0, max: 1024 - block }).map((count) => msg.request(chunk, block, count))),
  fc.tuple(chunkNumber, int32, fc.uint8Array({ minLength: 128, maxLength: 128 })).map(([c, r, b]) => msg.prequest(c, r, b)),
  fc.tuple(uint32, level).map(([sec, l]) => msg.progressRequest(sec, l)),
  fc
    .tuple(
      uint32, uint32, uint32, level, fc.integer({ min: 0, max: 0xffff }),
      fc.option(fc.record({ chunksReceived: uint32, chunksDecompressed: uint32, bytesWritten: uint64 })),
      fc.option(stats),
    )
    .map(([id, who, when, l, seq, summary, s]) => msg.progress(id, who, when, l, seq, summary, s)),
];
const arbitraryMessage: fc.Arbitrary<FrisbeeMessage> = fc.oneof(...messageKinds);

/** Block data as bytes (null encodes as zeros), so messages compare by content. */
function normalised(m: FrisbeeMessage): unknown {
  if (m.type === "block") return { ...m, data: Array.from(m.data ?? new Uint8Array(1024)) };
  if (m.type === "prequest") return { ...m, bitmap: Array.from(m.bitmap) };
  return m;
}

describe("codec round trip", () => {
  it("decodes every encoded message to an equal one, at exactly its wireBytes", async () => {
    // Each case holds one message of every type, so every type is tried however few the cases.
    await fc.assert(
      fc.asyncProperty(fc.tuple(...messageKinds), uint32, async (messages, srcIp) => {
        await breathe();
        expect(new Set(messages.map((m) => m.type)).size).toBe(11);
        for (const message of messages) {
          const bytes = encode(message, srcIp);
          expect(bytes.length).toBe(message.wireBytes);
          const result = decode(bytes);
          if (!result.ok) throw new Error(result.error);
          expect(result.srcIp).toBe(srcIp);
          expect(normalised(result.message)).toEqual(normalised(message));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses to encode a message the decoder would reject, or one whose wireBytes lie", () => {
    expect(() => encode(msg.block(0, 1024, null), LOCALHOST)).toThrow(/block 1024/);
    expect(() => encode(msg.request(0, 1000, 25), LOCALHOST)).toThrow(/count 25/);
    expect(() => encode(msg.join(-1), LOCALHOST)).toThrow(/clientId -1/);
    expect(() => encode(msg.prequest(0, 0, new Uint8Array(127)), LOCALHOST)).toThrow(/127 bytes/);
    expect(() => encode({ ...msg.join(1), wireBytes: 21 }, LOCALHOST)).toThrow(/wireBytes 21/);
    expect(() => encode(msg.progressRequest(1, 3 as ProgressLevel), LOCALHOST)).toThrow(/level 3/);
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzz: decode never throws and answers with a message or one line

function expectWellFormed(result: DecodeResult): void {
  if (result.ok) {
    // Whatever decodes re-encodes to something that decodes to the same message.
    const again = decode(encode(result.message, result.srcIp));
    if (!again.ok) throw new Error(`re-encoded message does not decode: ${again.error}`);
    expect(normalised(again.message)).toEqual(normalised(result.message));
  } else {
    expect(result.error).toMatch(/^[^\n]+$/);
    expect(result.unknownType === undefined || result.unknownType).toBe(true);
  }
}

type Mutation = { kind: "flip"; at: number; xor: number } | { kind: "truncate"; to: number } | { kind: "extend"; bytes: Uint8Array };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), to: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const m of mutations) {
    if (m.kind === "flip" && out.length > 0) out[m.at % out.length] = (out[m.at % out.length] as number) ^ m.xor;
    if (m.kind === "truncate") out = out.slice(0, m.to % (out.length + 1));
    if (m.kind === "extend") out = Uint8Array.from([...out, ...m.bytes]);
  }
  return out;
}

/**
 * How a property's inputs fall (a decode that succeeds or fails, a BLOCK or not), counted on a
 * fixed sample of `runs` rather than the property's own runs: it checks the generator reaches both
 * outcomes, and a mutation run caps a property at 30 cases, too few to see a 1-in-12 outcome every time.
 */
async function outcomesOf<T>(arbitrary: fc.Arbitrary<T>, runs: number, classify: (value: T) => string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const value of fc.sample(arbitrary, { numRuns: runs, seed: 20 })) {
    await breathe();
    const outcome = classify(value);
    counts[outcome] = (counts[outcome] ?? 0) + 1;
  }
  return counts;
}

describe("codec fuzz", () => {
  it("never throws on arbitrary bytes of 0 to 2000", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        await breathe();
        expectWellFormed(decode(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it("never throws on valid datagrams with bytes flipped, cut off or added", async () => {
    const mutated = fc.tuple(arbitraryMessage, fc.array(mutation, { minLength: 1, maxLength: 4 }));
    await fc.assert(
      fc.asyncProperty(mutated, async ([message, mutations]) => {
        await breathe();
        expectWellFormed(decode(mutate(encode(message, LOCALHOST), mutations)));
      }),
      { numRuns: 1000 },
    );
    const outcomes = await outcomesOf(mutated, 1000, ([message, mutations]) => (decode(mutate(encode(message, LOCALHOST), mutations)).ok ? "ok" : "error"));
    expect(outcomes["ok"]).toBeGreaterThan(0);
    expect(outcomes["error"]).toBeGreaterThan(0);
  });

  it("never throws on well-framed headers with any subtype and body of an interesting length", async () => {
    const exact: Record<number, number[]> = { 1: [4], 2: [8], 3: [1032], 4: [12], 5: [128, 1036], 6: [136], 7: [24], 8: [16, 32, 136, 152, 160] };
    const near = Object.values(exact).flat().flatMap((n) => [n - 1, n + 1]);
    const header = fc.tuple(fc.constantFrom(0, 1, 1, 2, 2, 3), fc.integer({ min: -1, max: 10 }));
    const framed = header.chain(([type, subtype]) =>
      fc
        .oneof(fc.constantFrom(...(exact[subtype] ?? [0])), fc.constantFrom(0, ...near))
        .chain((n) => fc.oneof(fc.uint8Array({ minLength: n, maxLength: n, max: 1 }), fc.uint8Array({ minLength: n, maxLength: n })))
        .map((payload) => [type, subtype, payload] as const),
    );
    const datagram = ([type, subtype, payload]: readonly [number, number, Uint8Array]): Uint8Array => {
      const bytes = new Uint8Array(16 + payload.length);
      const view = new DataView(bytes.buffer);
      view.setInt32(0, type, true);
      view.setInt32(4, subtype, true);
      view.setInt32(8, payload.length, true);
      bytes.set(payload, 16);
      return bytes;
    };
    await fc.assert(
      fc.asyncProperty(framed, async (f) => {
        await breathe();
        expectWellFormed(decode(datagram(f)));
      }),
      { numRuns: 1000 },
    );
    const outcomes = await outcomesOf(framed, 1000, (f) => (decode(datagram(f)).ok ? "ok" : "error"));
    expect(outcomes["ok"]).toBeGreaterThan(50);
    expect(outcomes["error"]).toBeGreaterThan(50);
  });
});

// ---------------------------------------------------------------------------------------------
// Specific bad and edge inputs

function patched(message: FrisbeeMessage, patch: (view: DataView) => void): Uint8Array {
  const bytes = encode(message, LOCALHOST);
  patch(new DataView(bytes.buffer));
  return bytes;
}

function errorOf(bytes: Uint8Array): string {
  const result = decode(bytes);
  if (result.ok) throw new Error(`expected an error, decoded ${result.message.type}`);
  expect(result.unknownType).toBeUndefined();
  return result.error;
}

describe("codec rejects bad datagrams with one line naming the offset", () => {
  it("rejects a datagram shorter than the header", () => {
    expect(errorOf(new Uint8Array(12))).toBe("datagram of 12 bytes is shorter than the 16-byte header");
  });

  it("rejects a datalen that does not match the bytes after the header", () => {
    const bytes = new Uint8Array(44);
    bytes.set(encode(msg.request(1, 0, 1024), LOCALHOST));
    new DataView(bytes.buffer).setInt32(8, 40, true);
    expect(errorOf(bytes)).toBe("datalen 40 at offset 8 does not match the 28 bytes after the header");
    expect(errorOf(patched(msg.join(1), (v) => v.setInt32(8, -4, true)))).toMatch(/datalen -4 at offset 8/);
  });

  it("rejects a BLOCK with a negative chunk or a block past 1023", () => {
    expect(errorOf(patched(msg.block(0, 0, null), (v) => v.setInt32(16, -1, true)))).toBe("BLOCK at offset 16: chunk -1 is negative");
    expect(errorOf(patched(msg.block(0, 1023, null), (v) => v.setInt32(20, 1024, true)))).toBe("BLOCK at offset 20: block 1024 is outside 0..1023");
    expect(errorOf(patched(msg.block(0, 0, null), (v) => v.setInt32(20, -1, true)))).toMatch(/^BLOCK at offset 20: block -1/);
  });

  it("rejects a REQUEST whose blocks pass the end of the chunk, but takes one that ends exactly there", () => {
    expect(decode(encode(msg.request(2, 1000, 24), LOCALHOST)).ok).toBe(true);
    expect(errorOf(patched(msg.request(2, 1000, 24), (v) => v.setInt32(24, 25, true)))).toBe(
      "REQUEST at offset 20: block 1000 + count 25 passes the 1024 blocks of a chunk",
    );
    expect(errorOf(patched(msg.request(2, 0, 1), (v) => v.setInt32(24, -1, true)))).toMatch(/^REQUEST at offset 24: count -1 is negative/);
  });

  it("rejects a PREQUEST of 151 bytes, framed or not", () => {
    const bytes = encode(msg.prequest(1, 0, new Uint8Array(128)), LOCALHOST).slice(0, 151);
    expect(errorOf(bytes)).toBe("datalen 136 at offset 8 does not match the 135 bytes after the header");
    new DataView(bytes.buffer).setInt32(8, 135, true);
    expect(errorOf(bytes)).toBe("PREQUEST datagram of 151 bytes (datalen at offset 8) must be exactly 152 bytes");
  });

  it("rejects longer messages except LEAVE2's stats union and PROGRESS's future fields", () => {
    const longer = (m: FrisbeeMessage, extra: number): Uint8Array => {
      const bytes = new Uint8Array(m.wireBytes + extra);
      bytes.set(encode(m, LOCALHOST));
      new DataView(bytes.buffer).setInt32(8, bytes.length - 16, true);
      return bytes;
    };
    expect(errorOf(longer(msg.join(1), 4))).toMatch(/JOIN datagram of 24 bytes .* must be exactly 20 bytes/);
    expect(errorOf(longer(msg.block(0, 0, null), 1))).toMatch(/BLOCK datagram of 1049 bytes/);
    expect(errorOf(longer(msg.leave2(1, 2, emptyStats()), 1))).toMatch(/LEAVE2 datagram of 1053 bytes .* longer/);
    const report = msg.progress(7, LOCALHOST, 100, 1, 3, { chunksReceived: 4, chunksDecompressed: 2, bytesWritten: 2 ** 40 }, null);
    const result = decode(longer(report, 8));
    expect(result.ok && normalised(result.message)).toEqual(report);
  });

  it("takes a LEAVE2 whose stats union is cut after the v1 fields, not before", () => {
    const s = { ...emptyStats(), rerequests: 9 };
    const whole = encode(msg.leave2(1, 2, s), LOCALHOST);
    const cut = (n: number): Uint8Array => {
      const bytes = whole.slice(0, n);
      new DataView(bytes.buffer).setInt32(8, n - 16, true);
      return bytes;
    };
    const result = decode(cut(144));
    expect(result.ok && result.message).toEqual(msg.leave2(1, 2, s));
    expect(errorOf(cut(143))).toMatch(/LEAVE2 datagram of 143 bytes .* shorter than the 144 bytes/);
  });

  it("rejects stats of another version, a uint64 past 2^53 and a progress level it does not know", () => {
    expect(errorOf(patched(msg.leave2(1, 2, emptyStats()), (v) => v.setInt32(24, 2, true)))).toBe(
      "LEAVE2 at offset 24: stats version 2 is not 1",
    );
    expect(errorOf(patched(msg.leave2(1, 2, emptyStats()), (v) => v.setUint32(44, 0x20_0000, true)))).toBe(
      "LEAVE2 at offset 40: rbyteswritten does not fit in 53 bits",
    );
    expect(errorOf(patched(msg.join2Reply(1, 0, 0), (v) => v.setUint32(36, 0xffff_ffff, true)))).toMatch(/^JOIN2 reply at offset 32: bytecount/);
    expect(errorOf(patched(msg.progressRequest(5, 2), (v) => v.setUint16(28, 3, true)))).toBe(
      "PROGRESS at offset 28: level 3 is not 0 (none), 1 (summary) or 2 (full)",
    );
  });

  it("rejects a known subtype sent with the wrong header type, without calling it unknown", () => {
    expect(errorOf(patched(msg.leave(1, 2), (v) => v.setInt32(0, 2, true)))).toBe(
      "LEAVE at offset 0: header type 2 (REPLY) but LEAVE is only sent as a REQUEST",
    );
  });

  it("flags unknown subtypes and header types as unknownType so callers can ignore and count them", () => {
    const cases: [number, number, RegExp][] = [
      [1, 9, /subtype 9 at offset 4/],
      [1, 0, /subtype 0 at offset 4/],
      [2, -1, /subtype -1 at offset 4/],
      [3, 1, /header type 3 at offset 0/],
      [0, 4, /header type 0 at offset 0/],
    ];
    for (const [type, subtype, error] of cases) {
      const result = decode(patched(msg.join(1), (v) => (v.setInt32(0, type, true), v.setInt32(4, subtype, true))));
      expect(result).toEqual({ ok: false, error: expect.stringMatching(error), unknownType: true });
    }
  });
});

describe("codec layout of what the 2011 capture lacks", () => {
  it("encodes a progress report as clientid, who, when, what, seq, then the summary, then the stats", () => {
    const report = msg.progress(0x11223344, 0x0a000002, 1000, 2, 0xfffe, { chunksReceived: 5, chunksDecompressed: 3, bytesWritten: 2 ** 32 + 6 }, { ...emptyStats(), runsec: 7 });
    const hex = toHex(encode(report, LOCALHOST));
    expect(hex.slice(0, 96)).toBe(
      "02000000" + "08000000" + "98000000" + "7f000001" +
        "44332211" + "0200000a" + "e8030000" + "0200" + "feff" +
        "05000000" + "03000000" + "0600000001000000",
    );
    expect(hex.slice(96, 112)).toBe("01000000" + "07000000");
    expect(hex.length / 2).toBe(16 + 16 + 16 + 120);
  });

  it("encodes a progress request as a PROGRESS of type REQUEST with the interval in when and the level in what", () => {
    expect(toHex(encode(msg.progressRequest(30, 1), 0x0a000001))).toBe(
      "01000000" + "08000000" + "10000000" + "0a000001" + "00000000" + "00000000" + "1e000000" + "0100" + "0000",
    );
  });

  it("reads a report's sections from its length: stats without a summary are not mistaken for one", () => {
    const report = msg.progress(1, 2, 3, 2, 4, null, { ...emptyStats(), dupblock: 11 });
    expect(report.wireBytes).toBe(152);
    const result = decode(encode(report, LOCALHOST));
    expect(result.ok && result.message).toEqual(report);
  });
});

describe("codec ownership of decoded bytes", () => {
  it("copies a PREQUEST's bitmap out of the datagram", () => {
    const bytes = encode(msg.prequest(0, 1, new Uint8Array(128).fill(0x0f)), LOCALHOST);
    const result = decode(bytes);
    bytes.fill(0xaa, 24);
    expect(result.ok && result.message.type === "prequest" && result.message.bitmap.every((b) => b === 0x0f)).toBe(true);
  });

  it("gives a BLOCK's data as a view of the datagram, which the caller must not reuse while holding it", () => {
    const bytes = encode(msg.block(0, 0, new Uint8Array(1024).fill(1)), LOCALHOST);
    const result = decode(bytes);
    bytes[24] = 9;
    expect(result.ok && result.message.type === "block" && result.message.data?.[0]).toBe(9);
  });
});

describe("codec helpers", () => {
  it("accepts a block only in a chunk the image has", () => {
    const block = (chunk: number, b: number): BlockMessage => msg.block(chunk, b, null) as BlockMessage;
    expect(validBlock(block(1, 1023), 2)).toBe(true);
    expect(validBlock(block(2, 0), 2)).toBe(false);
    expect(validBlock(block(-1, 0), 2)).toBe(false);
    expect(validBlock(block(0, 1024), 2)).toBe(false);
  });

  it("converts IPv4 addresses to the header's number and back", () => {
    expect(ipv4ToNumber("127.0.0.1")).toBe(0x7f000001);
    expect(ipv4ToNumber("255.255.255.255")).toBe(0xffff_ffff);
    expect(numberToIpv4(0xc0a80a01)).toBe("192.168.10.1");
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (n) => ipv4ToNumber(numberToIpv4(n)) === n));
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "a.b.c.d", "1..2.3", " 1.2.3.4", "1.2.3.-4"]) {
      expect(() => ipv4ToNumber(bad), bad).toThrow(RangeError);
    }
    expect(() => numberToIpv4(2 ** 32)).toThrow(RangeError);
  });

  it("encodes a machine's message as its host's network does: srcip and a report's own address from the host", () => {
    const report = msg.progress(7, 0, 100, 1, 3, { chunksReceived: 4, chunksDecompressed: 2, bytesWritten: 9 }, null);
    const d = decode(encodeFromHost(report, 0x0a000105));
    expect(d.ok && d.srcIp).toBe(0x0a000105);
    expect(d.ok && d.message.type === "progress" && d.message.who).toBe(0x0a000105);
    const join = decode(encodeFromHost(msg.join(9), 0x0a000001));
    expect(join.ok && join.srcIp).toBe(0x0a000001);
    expect(join.ok && join.message).toEqual(msg.join(9));
    expect(() => encodeFromHost({ type: "traffic", wireBytes: 10 }, 1)).toThrow(/traffic is not a Frisbee message/);
  });
});

// ---------------------------------------------------------------------------------------------
// The block path without objects (isWellFormedBlock, encodeBlockInto): same acceptance, same bytes

describe("codec block fast path", () => {
  const blockMessage = fc
    .tuple(chunkNumber, fc.integer({ min: 0, max: 1023 }), fc.option(fc.uint8Array({ minLength: 1024, maxLength: 1024 })))
    .map(([chunk, block, data]) => msg.block(chunk, block, data) as BlockMessage);

  it("isWellFormedBlock accepts exactly what decode accepts as a BLOCK, and reads its chunk and block", async () => {
    const mutated = fc.tuple(fc.oneof(blockMessage, arbitraryMessage), fc.array(mutation, { maxLength: 3 }));
    await fc.assert(
      fc.asyncProperty(mutated, async ([message, mutations]) => {
        await breathe();
        const bytes = mutate(encode(message, LOCALHOST), mutations);
        const result = decode(bytes);
        const isBlock = result.ok && result.message.type === "block";
        expect(isWellFormedBlock(bytes)).toBe(isBlock);
        if (result.ok && result.message.type === "block") {
          expect([blockChunkOf(bytes), blockIndexOf(bytes)]).toEqual([result.message.chunk, result.message.block]);
          expect(bytes.subarray(BLOCK_DATA_AT)).toEqual(result.message.data);
        }
      }),
      { numRuns: 1500 },
    );
    const outcomes = await outcomesOf(mutated, 1500, ([message, mutations]) => {
      const result = decode(mutate(encode(message, LOCALHOST), mutations));
      return result.ok && result.message.type === "block" ? "block" : "other";
    });
    expect(outcomes["block"]).toBeGreaterThan(100);
    expect(outcomes["other"]).toBeGreaterThan(100);
  });

  it("encodeBlockInto writes encode's bytes at its offset and nothing else", async () => {
    await fc.assert(
      fc.asyncProperty(blockMessage, uint32, fc.integer({ min: 0, max: 64 }), async (m, srcIp, at) => {
        await breathe();
        const out = new Uint8Array(at + WIRE_BYTES.block + 8).fill(0xa5);
        encodeBlockInto(out, at, m.chunk, m.block, m.data, srcIp);
        expect(out.subarray(at, at + WIRE_BYTES.block)).toEqual(encode(m, srcIp));
        expect(out.subarray(0, at).every((b) => b === 0xa5) && out.subarray(at + WIRE_BYTES.block).every((b) => b === 0xa5)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("encodeBlockInto refuses what encode refuses", () => {
    const out = new Uint8Array(WIRE_BYTES.block);
    expect(() => encodeBlockInto(out, 0, 0, 1024, null, LOCALHOST)).toThrow(/block 1024/);
    expect(() => encodeBlockInto(out, 0, -1, 0, null, LOCALHOST)).toThrow(/chunk -1/);
    expect(() => encodeBlockInto(out, 0, 0, 0, new Uint8Array(1023), LOCALHOST)).toThrow(/1023 bytes/);
    expect(() => encodeBlockInto(out, 0, 0, 0, null, -1)).toThrow(/does not fit/);
  });
});

// ---------------------------------------------------------------------------------------------
// Each field's exact edges, written out (the properties above meet them only by chance)

describe("codec field edges", () => {
  const roundTrips = (m: FrisbeeMessage): boolean => {
    const result = decode(encode(m, LOCALHOST));
    return result.ok && JSON.stringify(normalised(result.message)) === JSON.stringify(normalised(m));
  };

  it("encodes each integer kind up to its edges and refuses one past them, or a fraction", () => {
    expect(roundTrips(msg.joinReply(-0x8000_0000)) && roundTrips(msg.joinReply(0x7fff_ffff))).toBe(true);
    expect(() => encode(msg.joinReply(-0x8000_0001), LOCALHOST)).toThrow("frisbee encode: blockCount -2147483649 does not fit a int32");
    expect(() => encode(msg.joinReply(0x8000_0000), LOCALHOST)).toThrow(/blockCount 2147483648 does not fit a int32/);
    expect(roundTrips(msg.join(0)) && roundTrips(msg.join(0xffff_ffff))).toBe(true);
    expect(() => encode(msg.join(0x1_0000_0000), LOCALHOST)).toThrow(/clientId 4294967296 does not fit a uint32/);
    expect(() => encode(msg.join(1.5), LOCALHOST)).toThrow(/clientId 1.5 does not fit/);
    expect(roundTrips(msg.progress(1, 0, 0, 1, 0, null, null)) && roundTrips(msg.progress(1, 0, 0, 1, 0xffff, null, null))).toBe(true);
    expect(() => encode(msg.progress(1, 0, 0, 1, 0x1_0000, null, null), LOCALHOST)).toThrow(/seq 65536 does not fit a uint16/);
    expect(() => encode(msg.progress(1, 0, 0, 1, -1, null, null), LOCALHOST)).toThrow(/seq -1 does not fit a uint16/);
    expect(roundTrips(msg.join2Reply(1, 0, Number.MAX_SAFE_INTEGER)) && roundTrips(msg.join2Reply(1, 0, 0))).toBe(true);
    expect(() => encode(msg.join2Reply(1, 0, Number.MAX_SAFE_INTEGER + 1), LOCALHOST)).toThrow(/byteCount 9007199254740992 does not fit a uint64/);
    expect(() => encode(msg.join2Reply(1, 0, -1), LOCALHOST)).toThrow(/byteCount -1 does not fit a uint64/);
  });

  it("writes a uint64 as its low then its high 32 bits, and reads back the largest high word a number holds exactly", () => {
    const bytes = encode(msg.join2Reply(1, 0, 0x1f_ffff_0000_0002), LOCALHOST);
    expect(toHex(bytes.subarray(32, 40))).toBe("02000000" + "ffff1f00");
    const result = decode(bytes);
    expect(result.ok && result.message.type === "join2Reply" && result.message.byteCount).toBe(0x1f_ffff_0000_0002);
    const over = bytes.slice();
    over[38] = 0x20; // high word 0x200000
    expect(errorOf(over)).toBe("JOIN2 reply at offset 32: bytecount does not fit in 53 bits");
  });

  it("refuses to encode from a source address that is not an IPv4 number", () => {
    expect(() => encode(msg.join(1), -1)).toThrow("frisbee encode: srcIp -1 is not an IPv4 address as a number");
    expect(() => encode(msg.join(1), 2 ** 32)).toThrow(/srcIp 4294967296/);
    expect(decode(encode(msg.join(1), 0xffff_ffff)).ok).toBe(true);
  });

  it("refuses to encode a request whose numbers the decoder would reject, naming each", () => {
    expect(() => encode(msg.request(-1, 0, 1), LOCALHOST)).toThrow("frisbee encode: request: chunk -1 is negative");
    expect(() => encode(msg.request(0, -1, 1), LOCALHOST)).toThrow("frisbee encode: request: block -1 is negative");
    expect(() => encode(msg.request(0, 0, -1), LOCALHOST)).toThrow("frisbee encode: request: count -1 is negative");
    expect(() => encode(msg.block(-1, 0, null), LOCALHOST)).toThrow("frisbee encode: block: chunk -1 is negative");
    expect(() => encode(msg.block(0, -1, null), LOCALHOST)).toThrow("frisbee encode: block: block -1 is outside 0..1023");
    expect(() => encode(msg.block(0, 0, new Uint8Array(1025)), LOCALHOST)).toThrow("frisbee encode: block data is 1025 bytes, not 1024");
    expect(() => encode(msg.prequest(-1, 0, new Uint8Array(128)), LOCALHOST)).toThrow("frisbee encode: prequest: chunk -1 is negative");
    expect(() => encode(msg.progress(1, 0, 0, 3 as ProgressLevel, 1, null, null), LOCALHOST)).toThrow("frisbee encode: progress: level 3 is not 0 (none), 1 (summary) or 2 (full)");
    expect(roundTrips(msg.request(0, 0, 0)) && roundTrips(msg.request(0, 1024, 0)) && roundTrips(msg.block(0, 1023, null))).toBe(true);
  });

  it("names the offset of the first bad field of a REQUEST: chunk, then block, then count", () => {
    const request = (chunk: number, block: number, count: number): Uint8Array =>
      patched(msg.request(0, 0, 0), (v) => (v.setInt32(16, chunk, true), v.setInt32(20, block, true), v.setInt32(24, count, true)));
    expect(errorOf(request(-1, -1, -1))).toBe("REQUEST at offset 16: chunk -1 is negative");
    expect(errorOf(request(0, -1, -1))).toBe("REQUEST at offset 20: block -1 is negative");
    expect(errorOf(request(0, 0, -1))).toBe("REQUEST at offset 24: count -1 is negative");
    expect(errorOf(request(0, 1024, 1))).toBe("REQUEST at offset 20: block 1024 + count 1 passes the 1024 blocks of a chunk");
  });

  it("refuses a PREQUEST for a negative chunk, and a BLOCK or REQUEST sent as a reply", () => {
    expect(errorOf(patched(msg.prequest(0, 0, new Uint8Array(128)), (v) => v.setInt32(16, -3, true)))).toBe("PREQUEST at offset 16: chunk -3 is negative");
    expect(errorOf(patched(msg.block(0, 0, null), (v) => v.setInt32(0, 2, true)))).toBe("BLOCK at offset 0: header type 2 (REPLY) but BLOCK is only sent as a REQUEST");
    expect(errorOf(patched(msg.request(0, 0, 1), (v) => v.setInt32(0, 2, true)))).toBe("REQUEST at offset 0: header type 2 (REPLY) but REQUEST is only sent as a REQUEST");
  });

  it("takes a progress request with bytes after its 16, and refuses one shorter", () => {
    const longer = new Uint8Array(16 + 20);
    longer.set(encode(msg.progressRequest(9, 2), LOCALHOST));
    new DataView(longer.buffer).setInt32(8, 20, true);
    const result = decode(longer);
    expect(result.ok && result.message).toEqual(msg.progressRequest(9, 2));
    const shorter = encode(msg.progressRequest(9, 2), LOCALHOST).slice(0, 31);
    new DataView(shorter.buffer).setInt32(8, 15, true);
    expect(errorOf(shorter)).toBe("PROGRESS request datagram of 31 bytes (datalen at offset 8) is shorter than the 32 bytes it needs");
  });

  it("reads each layout a report can have from its length, and refuses a report shorter than its fixed part", () => {
    const summary = { chunksReceived: 3, chunksDecompressed: 2, bytesWritten: 1 };
    const stats = { ...emptyStats(), dupchunk: 4 };
    for (const [s, t, bytes] of [[null, null, 32], [summary, null, 48], [null, stats, 152], [summary, stats, 168]] as const) {
      const report = msg.progress(1, 2, 3, 2, 4, s, t);
      expect(report.wireBytes).toBe(bytes);
      const result = decode(encode(report, LOCALHOST));
      expect(result.ok && result.message).toEqual(report);
    }
    // A summary a byte short is not read: the report is its fixed part only.
    const cut = encode(msg.progress(1, 2, 3, 2, 4, summary, null), LOCALHOST).slice(0, 47);
    new DataView(cut.buffer).setInt32(8, 31, true);
    const fixed = decode(cut);
    expect(fixed.ok && fixed.message).toEqual({ ...msg.progress(1, 2, 3, 2, 4, null, null), wireBytes: 32 });
    const stub = encode(msg.progress(1, 2, 3, 2, 4, null, null), LOCALHOST).slice(0, 31);
    new DataView(stub.buffer).setInt32(8, 15, true);
    expect(errorOf(stub)).toBe("PROGRESS datagram of 31 bytes (datalen at offset 8) is shorter than the 32 bytes it needs");
    expect(errorOf(patched(msg.progress(1, 2, 3, 2, 4, summary, null), (v) => v.setUint32(44, 0x20_0000, true)))).toBe("PROGRESS at offset 40: bytes_out does not fit in 53 bits");
    expect(errorOf(patched(msg.progress(1, 2, 3, 2, 4, null, stats), (v) => v.setInt32(32, 0, true)))).toBe("PROGRESS at offset 32: stats version 0 is not 1");
  });

  it("checks a BLOCK datagram in place exactly as decode does", () => {
    const good = encode(msg.block(5, 1023, null), 0x0a0b0c0d);
    expect(isWellFormedBlock(good)).toBe(true);
    expect([blockChunkOf(good), blockIndexOf(good)]).toEqual([5, 1023]);
    const broken = (at: number, value: number): Uint8Array => {
      const bytes = good.slice();
      new DataView(bytes.buffer).setInt32(at, value, true);
      return bytes;
    };
    expect(isWellFormedBlock(good.subarray(0, good.length - 1))).toBe(false);
    expect([broken(0, 2), broken(4, 4), broken(8, 1031), broken(16, -1), broken(20, 1024), broken(20, -1)].map(isWellFormedBlock)).toEqual([false, false, false, false, false, false]);
    const into = new Uint8Array(good.length);
    encodeBlockInto(into, 0, 5, 1023, null, 0x0a0b0c0d);
    expect(toHex(into)).toBe(toHex(good));
    expect(toHex(into.subarray(12, 16))).toBe("0a0b0c0d");
  });

  it("converts only dotted quads of 1 to 3 digits, and only whole numbers below 2^32", () => {
    for (const bad of ["0001.2.3.4", "1.2.3.4.", "1.2.3.4 "]) expect(() => ipv4ToNumber(bad), bad).toThrow(`"${bad}" is not a dotted IPv4 address`);
    expect(ipv4ToNumber("001.002.003.004")).toBe(0x01020304);
    expect(() => numberToIpv4(-1)).toThrow("-1 is not an IPv4 address as a number");
    expect(() => numberToIpv4(1.5)).toThrow(RangeError);
    expect(numberToIpv4(0)).toBe("0.0.0.0");
  });
});
