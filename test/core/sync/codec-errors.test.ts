import { describe, expect, it } from "vitest";
import {
  CODE_BROKEN,
  CODE_INVALID,
  CODE_LATE,
  CODE_LIMIT,
  CODE_NAMES,
  CODE_OVERFLOW,
  CODE_RESET,
  CODE_TIMEOUT,
  checkName,
  decodeReply,
  decodeRequest,
  DEFAULT_BARRIER_NAME,
  encodeReply,
  encodeRequest,
  EXT_NAME_BYTES_MAX,
  EXT_OFFSET,
  INVALID_REPLY,
  type SyncRequest,
} from "../../../core/sync/index.js";
import { ext } from "./support.js";

/**
 * The exact lines a user reads when a request cannot travel or a datagram is refused: `testbed sync`
 * prints the encoder's refusal, syncd logs the decoder's reason with the sync.invalid event.
 */
const wait = (name: string, extended = false): SyncRequest => ({ type: "wait", name, noWait: false, count: 0, error: 0, ext: extended ? ext() : null });
const errorOf = (bytes: Uint8Array): string => {
  const d = decodeRequest(bytes);
  return d.ok ? "accepted" : d.error;
};
const encodeError = (req: SyncRequest): string => {
  try {
    encodeRequest(req);
    return "encoded";
  } catch (e) {
    return (e as Error).message;
  }
};
const a = (n: number): string => "a".repeat(n);

describe("which names can travel, and the refusal's exact words", () => {
  it("takes every byte from 1 to 255 and refuses anything wider, an empty name and a NUL", () => {
    expect(checkName("\u00ff\u0001", false)).toBeNull();
    const d = decodeRequest(encodeRequest(wait("x\u00ffy")));
    expect(d.ok && d.value.name).toBe("x\u00ffy");
    expect(checkName("x\u0100", false)).toBe("the name must be a byte string");
    expect(checkName("", true)).toBe("the name is empty");
    expect(checkName("a\u0000b", false)).toBe("the name holds a NUL byte");
  });

  it("takes 63 bytes in the original layout and 43 with extensions, one more is refused", () => {
    expect(EXT_NAME_BYTES_MAX).toBe(EXT_OFFSET - 1);
    expect(checkName(a(63), false)).toBeNull();
    expect(checkName(a(64), false)).toBe("the name is 64 bytes, at most 63");
    expect(checkName(a(43), true)).toBeNull();
    expect(checkName(a(44), true)).toBe("the name is 44 bytes, at most 43 with extensions");
  });

  it("encodeRequest applies the limit of the layout it writes, and says why it cannot", () => {
    expect(encodeError(wait(a(44)))).toBe("encoded");
    expect(encodeError(wait(a(63)))).toBe("encoded");
    expect(encodeError(wait(a(44), true))).toBe("cannot encode sync request: the name is 44 bytes, at most 43 with extensions");
    expect(encodeError(wait(a(64)))).toBe("cannot encode sync request: the name is 64 bytes, at most 63");
    expect(encodeError(wait(""))).toBe("cannot encode sync request: the name is empty");
    expect(encodeError(wait("\u0100"))).toBe("cannot encode sync request: the name must be a byte string");
    expect(encodeError(wait("a\u0000"))).toBe("cannot encode sync request: the name holds a NUL byte");
  });
});

describe("the decoder's reasons, word for word", () => {
  const good = (): Uint8Array => encodeRequest({ type: "init", name: "b", noWait: false, count: 2, error: 0, ext: null });
  const set = (b: Uint8Array, f: (dv: DataView) => void): Uint8Array => {
    f(new DataView(b.buffer));
    return b;
  };

  it("names the length, an empty name and a name filling the field", () => {
    expect(errorOf(new Uint8Array(75))).toBe("a request is 76 bytes, got 75");
    expect(errorOf(new Uint8Array(76))).toBe("the name is empty");
    const full = good();
    full.fill(0x61, 0, 64);
    expect(errorOf(full)).toBe("the name is 64 bytes or more (no NUL in the name field)");
    expect(errorOf(new Uint8Array(76).fill(0x61))).toBe("the name is 64 bytes or more (no NUL in the name field)");
    // The name's NUL at byte 64, inside the request code (256 read little-endian): still too long.
    const at64 = good();
    at64.fill(0x61, 0, 64);
    at64[64] = 0;
    at64[65] = 1;
    expect(errorOf(at64)).toBe("the name is 64 bytes or more (no NUL in the name field)");
    const longest = good();
    longest.fill(0x61, 0, 63);
    longest[63] = 0;
    expect(errorOf(longest)).toBe("accepted");
  });

  it("names the request code, a negative count and an error out of range", () => {
    expect(errorOf(set(good(), (dv) => dv.setInt16(64, 3, true)))).toBe("unknown request code 3");
    expect(errorOf(set(good(), (dv) => dv.setInt32(68, -3, true)))).toBe("negative count -3");
    expect(errorOf(set(good(), (dv) => dv.setInt32(72, 240, true)))).toBe("error 240 is not from 0 to 239");
    expect(errorOf(set(good(), (dv) => dv.setInt32(72, -1, true)))).toBe("error -1 is not from 0 to 239");
    expect(errorOf(set(good(), (dv) => dv.setInt32(72, 239, true)))).toBe("accepted");
  });

  it("a WAIT's count is not read: a negative one there is harmless", () => {
    const w = set(good(), (dv) => {
      dv.setInt16(64, 2, true);
      dv.setInt32(68, -3, true);
    });
    const d = decodeRequest(w);
    expect(d.ok && d.value).toMatchObject({ type: "wait", count: 0 });
  });

  it("refuses an extension with request id 0", () => {
    const b = encodeRequest(wait("b", true));
    new DataView(b.buffer).setUint32(EXT_OFFSET + 8, 0, true);
    expect(errorOf(b)).toBe("extension request id 0");
  });

  it("reads the extension only when the name ends before it: a long name that spells the magic is a name", () => {
    const d43 = decodeRequest(encodeRequest(wait(a(43), true)));
    expect(d43.ok && d43.value.ext?.requestId).toBe(1);
    // Bytes 44-47 of this name are the magic "TBX1", followed by plausible options and ids.
    const name = `${a(44)}TBX1\u0001bbbbbbbbbbb`;
    const d = decodeRequest(encodeRequest(wait(name)));
    expect(d.ok && d.value).toMatchObject({ name, ext: null });
  });
});

describe("the codes a user reads", () => {
  it("names every code of the server's own", () => {
    expect(CODE_NAMES).toEqual({
      [CODE_RESET]: "reset", [CODE_TIMEOUT]: "timeout", [CODE_LATE]: "late", [CODE_BROKEN]: "broken",
      [CODE_OVERFLOW]: "overflow", [CODE_LIMIT]: "limit", [CODE_INVALID]: "invalid",
    });
  });

  it("a reply's refusals say what is wrong", () => {
    const reply = (code: number, epoch: number): string => {
      const d = decodeReply(encodeReply({ code, ext: { requestId: 1, generation: 1, epoch } }));
      return d.ok ? "accepted" : d.error;
    };
    expect(reply(-2, 3)).toBe("reply code -2");
    expect(reply(0, 0)).toBe("extended reply with epoch 0");
  });

  it("waits at the original's default barrier when no name is given", () => {
    expect(DEFAULT_BARRIER_NAME).toBe("barrier");
  });

  it("answers garbage with the original's 4-byte reply of code 246", () => {
    expect(INVALID_REPLY).toEqual({ code: CODE_INVALID, ext: null });
    expect([...encodeReply(INVALID_REPLY)]).toEqual([246, 0, 0, 0]);
  });
});
