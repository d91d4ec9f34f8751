import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual, fromHex, toHex } from "../../../core/image/index.js";

/*
 * The hex and byte helpers of core/image/hash.ts (the digest port itself is real/image's node:crypto
 * adapter): fromHex reads what the CLI and the signature files give as hex; bytesEqual compares
 * digests, so a shorter digest that is a prefix of another must not count as equal.
 */

describe("fromHex", () => {
  it("reads any bytes back from their hex, in either case (property)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      expect(fromHex(toHex(bytes))).toEqual(bytes);
      expect(fromHex(toHex(bytes).toUpperCase())).toEqual(bytes);
    }), { numRuns: 300 });
  });

  it("reads each pair of digits as one byte, in order", () => {
    expect(fromHex("")).toEqual(new Uint8Array(0));
    expect(fromHex("00ff7F80a1")).toEqual(Uint8Array.from([0x00, 0xff, 0x7f, 0x80, 0xa1]));
  });

  it.each([
    ["an odd number of digits", "abc"],
    ["a single digit", "a"],
    ["a non-digit first", "zz00"],
    ["a non-digit last", "00zz"],
    ["a non-digit between digits", "0g"],
    ["a space", "00 11"],
    ["a sign", "-1"],
  ])("refuses %s (null)", (_what, text) => {
    expect(fromHex(text)).toBeNull();
  });

  it("refuses any text with a character that is not a hex digit (property)", () => {
    const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), maxLength: 10 });
    const notHex = fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !/[0-9a-fA-F]/.test(c));
    fc.assert(fc.property(hex, notHex, hex, (a, c, b) => {
      expect(fromHex(`${a}${c}${b}`)).toBeNull();
      expect(fromHex(`${a}${c}${c}${b}`)).toBeNull();
    }), { numRuns: 300 });
  });
});

describe("bytesEqual", () => {
  it("is true exactly when length and every byte agree (property)", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
      expect(bytesEqual(a, b)).toBe(toHex(a) === toHex(b) && a.length === b.length);
      expect(bytesEqual(a, a.slice())).toBe(true);
    }), { numRuns: 300 });
  });

  it("tells a prefix, a longer copy and a last byte that differs from equal", () => {
    const d = Uint8Array.from([1, 2, 3]);
    expect(bytesEqual(d, Uint8Array.from([1, 2]))).toBe(false);
    expect(bytesEqual(Uint8Array.from([1, 2]), d)).toBe(false);
    expect(bytesEqual(d, Uint8Array.from([1, 2, 4]))).toBe(false);
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});
