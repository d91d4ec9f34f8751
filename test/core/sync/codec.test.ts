import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  EXT_MAGIC,
  EXT_NAME_BYTES_MAX,
  EXT_OFFSET,
  EXT_REPLY_BYTES,
  REPLY_PENDING,
  REQUEST_BYTES,
  type SyncRequest,
} from "../../../core/sync/index.js";
import { emulabFixture } from "../../fixtures/emulab.js";

interface Capture {
  direction: string;
  hex: string;
  length: number;
  fields: { name?: string; request?: number; flags?: number; count?: number; error?: number; reply?: number | null };
}

const captures = JSON.parse(readFileSync(emulabFixture("sync.json"), "utf8")) as Capture[];
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));

describe("sync codec against the original's captures", () => {
  const requests = captures.filter((c) => c.direction === "client->server");
  const replies = captures.filter((c) => c.direction === "server->client" && c.length === 4);

  it("has the captures to check", () => {
    expect(requests.length).toBeGreaterThanOrEqual(8);
    expect(replies.length).toBeGreaterThanOrEqual(8);
  });

  it("decodes every valid captured request and re-encodes it byte for byte", () => {
    for (const c of requests.filter((r) => r.fields.request === 1 || r.fields.request === 2)) {
      const decoded = decodeRequest(bytes(c.hex));
      if (!decoded.ok) throw new Error(decoded.error);
      const r = decoded.value;
      expect(r.name).toBe(c.fields.name);
      expect(r.type).toBe(c.fields.request === 1 ? "init" : "wait");
      expect(r.noWait).toBe(c.fields.flags === 1);
      expect(r.count).toBe(c.fields.count);
      expect(r.error).toBe(c.fields.error);
      expect(r.ext).toBeNull();
      expect(hex(encodeRequest(r))).toBe(c.hex);
    }
  });

  it("refuses the captured request with the unknown code 3", () => {
    const bad = requests.find((r) => r.fields.request === 3) as Capture;
    const decoded = decodeRequest(bytes(bad.hex));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toMatch(/unknown request code 3/);
  });

  it("decodes and re-encodes every captured 4-byte reply", () => {
    for (const c of replies) {
      const decoded = decodeReply(bytes(c.hex));
      expect(decoded.ok && decoded.value.code).toBe(c.fields.reply);
      expect(hex(encodeReply({ code: c.fields.reply as number, ext: null }))).toBe(c.hex);
    }
  });
});

describe("sync codec refuses bad requests with a reason", () => {
  const base = (): Uint8Array => encodeRequest({ type: "wait", name: "b", noWait: false, count: 0, error: 0, ext: null });

  it("refuses a name of 64 bytes or more", () => {
    const b = base();
    b.fill(0x61, 0, 64);
    const d = decodeRequest(b);
    expect(d.ok ? "" : d.error).toMatch(/64 bytes or more/);
  });

  it("refuses a negative count on INIT", () => {
    const b = base();
    const dv = new DataView(b.buffer);
    dv.setInt16(64, 1, true);
    dv.setInt32(68, -3, true);
    expect(decodeRequest(b).ok).toBe(false);
  });

  it("refuses an error of 240 or more, and a negative one", () => {
    for (const e of [240, 255, 100000, -1]) {
      const b = base();
      new DataView(b.buffer).setInt32(72, e, true);
      expect(decodeRequest(b).ok).toBe(false);
    }
  });

  it("refuses wrong lengths and an empty name", () => {
    expect(decodeRequest(new Uint8Array(75)).ok).toBe(false);
    expect(decodeRequest(new Uint8Array(77)).ok).toBe(false);
    expect(decodeRequest(new Uint8Array(REQUEST_BYTES)).ok).toBe(false);
  });

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), (b) => {
        decodeRequest(b);
        decodeReply(b);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 76, maxLength: 76 }), (b) => {
        const d = decodeRequest(b);
        if (d.ok) expect(decodeRequest(encodeRequest(d.value)).ok).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

const nameArb = (max: number) =>
  fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 1, maxLength: max }).map((a) => String.fromCharCode(...a));

const requestArb: fc.Arbitrary<SyncRequest> = fc.boolean().chain((extended) =>
  fc.record({
    type: fc.constantFrom("init" as const, "wait" as const),
    name: nameArb(extended ? EXT_NAME_BYTES_MAX : 63),
    noWait: fc.boolean(),
    count: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    error: fc.integer({ min: 0, max: 239 }),
    ext: extended
      ? fc.record({
          requestId: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
          deadlineMs: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          generation: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          crash: fc.constantFrom("original" as const, "tolerant" as const, "intolerant" as const),
          extra: fc.constantFrom("new" as const, "late" as const),
          cancel: fc.boolean(),
          epochKnown: fc.boolean(),
        })
      : fc.constant(null),
  }),
);

describe("sync codec round trips", () => {
  it("decodes what it encodes (a wait carries no count and no INIT_NOWAIT)", () => {
    fc.assert(
      fc.property(requestArb, (r) => {
        const d = decodeRequest(encodeRequest(r));
        if (!d.ok) throw new Error(d.error);
        const expected = r.type === "wait" ? { ...r, count: 0, noWait: false } : r;
        expect(d.value).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("puts extensions only where the original never looks: after the name's NUL", () => {
    fc.assert(
      fc.property(requestArb, (r) => {
        const plain = encodeRequest({ ...r, ext: null });
        const ext = encodeRequest(r);
        const nul = plain.indexOf(0);
        expect(ext.subarray(0, nul + 1)).toEqual(plain.subarray(0, nul + 1));
        expect(ext.subarray(64)).toEqual(plain.subarray(64));
      }),
      { numRuns: 500 },
    );
  });

  it("round-trips extended replies, the pending one included", () => {
    const u32 = fc.integer({ min: 1, max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(fc.integer({ min: -1, max: 255 }), u32, fc.integer({ min: 0, max: 2 ** 32 - 1 }), u32, (code, requestId, generation, epoch) => {
        const d = decodeReply(encodeReply({ code, ext: { requestId, generation, epoch } }));
        expect(d.ok && d.value).toEqual({ code, ext: { requestId, generation, epoch } });
      }),
    );
  });
});

describe("sync codec refuses what this version does not know", () => {
  const extended = (): Uint8Array =>
    encodeRequest({ type: "wait", name: "b", noWait: false, count: 0, error: 0, ext: { requestId: 9, deadlineMs: 0, generation: 0, crash: "tolerant", extra: "late", cancel: false, epochKnown: false } });
  const withOptions = (options: number): Uint8Array => {
    const b = extended();
    b[EXT_OFFSET + 4] = options;
    return b;
  };

  it("accepts every known combination of option bits", () => {
    for (const crash of [0, 1, 2]) for (const extra of [0, 1]) for (const cancel of [0, 0x10]) for (const epochKnown of [0, 0x20]) {
      expect(decodeRequest(withOptions(crash | (extra << 2) | cancel | epochKnown)).ok).toBe(true);
    }
  });

  it("refuses an unknown option bit, crash code 3 and extra codes 2 and 3", () => {
    for (const options of [0x40, 0x80, 0x61, 0x3, 0x8, 0xc]) {
      const d = decodeRequest(withOptions(options));
      expect(d.ok, `options 0x${options.toString(16)}`).toBe(false);
      if (!d.ok) expect(d.error).toBe(`bad extension options 0x${options.toString(16)}`);
    }
  });

  it("refuses an extended reply without its magic, of the old 16 bytes, with epoch 0 or a negative code", () => {
    const good = encodeReply({ code: 0, ext: { requestId: 1, generation: 1, epoch: 7 } });
    expect(good.length).toBe(EXT_REPLY_BYTES);
    expect(decodeReply(good).ok).toBe(true);
    const noMagic = good.slice();
    new DataView(noMagic.buffer).setUint32(4, EXT_MAGIC ^ 1, true);
    expect(decodeReply(noMagic)).toEqual({ ok: false, error: `a ${EXT_REPLY_BYTES}-byte reply without the extension magic` });
    expect(decodeReply(good.subarray(0, 16))).toEqual({ ok: false, error: `a reply is 4 or ${EXT_REPLY_BYTES} bytes, got 16` });
    expect(decodeReply(encodeReply({ code: 0, ext: { requestId: 1, generation: 1, epoch: 0 } })).ok).toBe(false);
    expect(decodeReply(encodeReply({ code: -2, ext: { requestId: 1, generation: 1, epoch: 3 } })).ok).toBe(false);
    expect(decodeReply(encodeReply({ code: REPLY_PENDING, ext: { requestId: 1, generation: 1, epoch: 3 } })).ok).toBe(true);
  });
});
