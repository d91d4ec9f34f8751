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
