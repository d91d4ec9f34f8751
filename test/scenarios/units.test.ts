import { describe, expect, it } from "vitest";
import { formatSeconds, parseByteRate, parseBytes, parseDurationUs, parseRateBps } from "../../scenarios/units.js";

const GARBAGE = ["fast", "10 parsecs", "", "   ", "-5ms", "1e400s", "1e308h", "ms", "1..5s", "1.5.2s", "NaN", "Infinity", "0x10ms"];

describe("parseRateBps", () => {
  it.each([
    ["100Mbit", 1e8],
    ["1Gbps", 1e9],
    ["12.5MB/s", 1e8],
    ["64Kbit", 64_000],
    ["1.5 Gbit", 1.5e9],
    ["8bps", 8],
  ])("reads %s as %d bits per second", (text, bps) => {
    expect(parseRateBps(text)).toBe(bps);
  });

  it.each(GARBAGE)("refuses %j", (text) => {
    expect(parseRateBps(text)).toBeNull();
  });

  it("refuses a size where a rate belongs", () => {
    expect(parseRateBps("64KiB")).toBeNull();
  });
});

describe("parseBytes", () => {
  it.each([
    ["64KiB", 65_536],
    ["1MB", 1e6],
    ["1500", 1500],
    ["2 GiB", 2 * 2 ** 30],
    ["1.5KB", 1500],
  ])("reads %s as %d bytes", (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });

  it("rounds a fractional size to a whole byte", () => {
    expect(parseBytes("0.3KiB")).toBe(307);
  });

  it.each(GARBAGE)("refuses %j", (text) => {
    expect(parseBytes(text)).toBeNull();
  });
});

describe("parseByteRate", () => {
  it("reads 50MiB/s as bytes per second", () => {
    expect(parseByteRate("50MiB/s")).toBe(50 * 2 ** 20);
  });
});

describe("parseDurationUs", () => {
  it.each([
    ["10ms", 10_000],
    ["1.5s", 1_500_000],
    ["250us", 250],
    ["2h", 7_200_000_000],
    ["3min", 180_000_000],
    [".5s", 500_000],
  ])("reads %s as %d microseconds", (text, us) => {
    expect(parseDurationUs(text)).toBe(us);
  });

  it("rounds to a whole microsecond", () => {
    expect(parseDurationUs("1.4us")).toBe(1);
  });

  it.each(GARBAGE)("refuses %j", (text) => {
    expect(parseDurationUs(text)).toBeNull();
  });

  it("refuses a bare number, which could mean any unit", () => {
    expect(parseDurationUs("10")).toBeNull();
  });

  // Quadratic backtracking over the padding would take minutes here; linear work takes milliseconds.
  it("reads a quantity padded with a great deal of whitespace without backtracking over it", { timeout: 5_000 }, () => {
    const padding = " ".repeat(200_000);
    expect(parseDurationUs(`1${padding}!`)).toBeNull();
    expect(parseDurationUs(`${padding}1ms${padding}`)).toBe(1000);
  });
});

describe("formatSeconds", () => {
  it.each([
    [0, "0 s"],
    [0.25, "0.3 s"],
    [42.54, "42.5 s"],
    [119.9, "119.9 s"],
    [120, "2 min"],
    [754, "12.6 min"],
    [5399, "90 min"],
    [5400, "1.5 h"],
    [7200, "2 h"],
    [23_701.2, "6.6 h"],
    [94_744.1, "26.3 h"],
    [172_799, "48 h"],
    [172_800, "2 d"],
    [400_000, "4.6 d"],
  ])("%s seconds read %s", (sec, text) => {
    expect(formatSeconds(sec)).toBe(text);
  });
});
