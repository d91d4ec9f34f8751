import { describe, expect, it } from "vitest";
import { DEFAULT_WATCHER, UPDATE_NOTICE_US_MAX, UpdateWatcher } from "../../../core/service/index.js";

describe("update watcher", () => {
  function make() {
    const polls: number[] = [];
    const fetches: [number, number][] = [];
    const w = new UpdateWatcher(DEFAULT_WATCHER, { poll: (now) => polls.push(now), fetch: (now, g) => fetches.push([now, g]) });
    return { w, polls, fetches };
  }

  it("fetches a pushed generation at once, once", () => {
    const { w, fetches } = make();
    w.start(0);
    w.notified(100, 3);
    w.notified(150, 3);
    expect(fetches).toEqual([[100, 3]]);
    w.fetched(200, 3, true);
    expect(w.held).toBe(3);
    w.notified(300, 2);
    expect(fetches).toHaveLength(1);
  });

  it("learns of a lost notice from its own poll, within the 3 s bound", () => {
    const { w, polls } = make();
    w.start(0);
    // The notice at 0.1 s is lost; the next poll is due at the poll period.
    const published = 100_000;
    w.poll(w.nextWakeUs());
    const pollAt = polls.at(-1) as number;
    expect(pollAt - published).toBeLessThan(UPDATE_NOTICE_US_MAX);
    w.notified(pollAt + 500, 1);
    w.fetched(pollAt + 900, 1, true);
    expect(w.held).toBe(1);
  });

  it("asks again for a fetch that never answered, after a poll period", () => {
    const { w, fetches } = make();
    w.start(0);
    w.notified(10, 4);
    w.notified(DEFAULT_WATCHER.pollEveryUs + 10, 4);
    expect(fetches).toHaveLength(2);
  });
});

describe("update watcher: edges", () => {
  function make(pollEveryUs = 2_000_000) {
    const polls: [number, number][] = [];
    const fetches: [number, number][] = [];
    const w = new UpdateWatcher({ pollEveryUs }, { poll: (now, held) => polls.push([now, held]), fetch: (now, g) => fetches.push([now, g]) });
    return { w, polls, fetches };
  }

  it("polls at once when it starts, then every period exactly, saying the generation it holds", () => {
    const { w, polls } = make(1_000);
    w.start(50);
    expect(polls).toEqual([[50, 0]]);
    expect(w.nextWakeUs()).toBe(1_050);
    w.poll(1_049);
    expect(polls).toHaveLength(1);
    w.notified(1_049, 2);
    w.fetched(1_049, 2, true);
    w.poll(1_050);
    expect(polls).toEqual([[50, 0], [1_050, 2]]);
    expect(w.nextWakeUs()).toBe(2_050);
  });

  it("fetches a newer generation at once even while an older one is being fetched, and takes only the answer it waits for", () => {
    const { w, fetches } = make();
    w.start(0);
    w.notified(10, 3);
    w.notified(20, 5);
    expect(fetches).toEqual([[10, 3], [20, 5]]);
    w.fetched(30, 3, true);
    expect(w.held).toBe(0);
    w.fetched(40, 5, true);
    expect(w.held).toBe(5);
    expect(w.learned).toBe(1);
  });

  it("asks again after a failed fetch, and again for one unanswered for exactly a poll period", () => {
    const { w, fetches } = make(1_000);
    w.start(0);
    w.notified(10, 1);
    w.fetched(20, 1, false);
    expect(w.held).toBe(0);
    expect(w.learned).toBe(0);
    w.notified(30, 1);
    expect(fetches).toEqual([[10, 1], [30, 1]]);
    w.notified(1_029, 1);
    expect(fetches).toHaveLength(2);
    w.notified(1_030, 1);
    expect(fetches).toEqual([[10, 1], [30, 1], [1_030, 1]]);
  });

  it("forgets a fetch in flight when it restarts, and never goes back to an older generation", () => {
    const { w, fetches } = make();
    w.start(0);
    w.notified(10, 2);
    w.start(20);
    w.notified(30, 2);
    expect(fetches).toEqual([[10, 2], [30, 2]]);
    w.fetched(40, 2, true);
    expect(w.held).toBe(2);
    w.fetched(50, 2, true);
    expect(w.learned).toBe(1);
    w.notified(60, 2);
    w.notified(70, 1);
    expect(fetches).toHaveLength(2);
  });

  it("refuses a poll period that is not whole microseconds above 0", () => {
    const port = { poll: () => {}, fetch: () => {} };
    expect(() => new UpdateWatcher({ pollEveryUs: 0 }, port)).toThrow("watcher: pollEveryUs must be whole microseconds above 0, got 0");
    expect(() => new UpdateWatcher({ pollEveryUs: 1.5 }, port)).toThrow(/got 1.5/);
    expect(new UpdateWatcher({ pollEveryUs: 1 }, port).config.pollEveryUs).toBe(1);
    expect(DEFAULT_WATCHER.pollEveryUs + 1_000_000).toBeLessThanOrEqual(UPDATE_NOTICE_US_MAX);
  });

  it("takes an answer for no fetch at all as nothing learned", () => {
    const { w } = make();
    w.start(0);
    w.fetched(10, 0, true);
    expect(w.learned).toBe(0);
    expect(w.held).toBe(0);
  });
});
