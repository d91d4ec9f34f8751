import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CHECKSUM_FILES_MAX, ChecksumRound, MISSING, majorityVote, type ChecksumAnswer, type Verdict, type VoteRule } from "../../../core/service/index.js";

const answersArb = (expected: number) =>
  fc.array(fc.constantFrom("a", "b", "c", MISSING), { minLength: 0, maxLength: expected }).map((ds) => ds.map((digest, node): ChecksumAnswer => ({ node, digest })));

/** The invariant: a decided digest is held by more than half of all nodes asked, and only its dissenters are the minority. */
function minorityNeverOverrules(expected: number, answers: readonly ChecksumAnswer[], v: Verdict): boolean {
  if (v.decided === null) return true;
  const holders = answers.filter((a) => a.digest === v.decided).length;
  const minority = answers.filter((a) => a.digest !== v.decided).map((a) => a.node);
  return holders * 2 > expected && JSON.stringify(minority) === JSON.stringify(v.minority);
}

/** A broken rule: the most common answer among those that answered wins. */
const plurality: VoteRule = (expected, answers) => {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a.digest, (counts.get(a.digest) ?? 0) + 1);
  const best = [...counts].sort((x, y) => y[1] - x[1])[0];
  if (best === undefined) return { decided: null, supporters: 0, expected, answered: 0, minority: [], source: null };
  return { decided: best[0], supporters: best[1], expected, answered: answers.length, minority: answers.filter((a) => a.digest !== best[0]).map((a) => a.node), source: answers.find((a) => a.digest === best[0])?.node ?? null };
};

describe("quorum checksum vote", () => {
  it("decides by a majority of all nodes asked, reports the minority and a source to repair from", () => {
    const v = majorityVote(5, [
      { node: 0, digest: "a" },
      { node: 1, digest: "b" },
      { node: 2, digest: "a" },
      { node: 3, digest: "a" },
    ]);
    expect(v).toMatchObject({ decided: "a", supporters: 3, minority: [1], source: 0 });
  });

  it("decides nothing without a quorum: the answers of a minority while the rest are silent, or a tie", () => {
    expect(majorityVote(10, [0, 1, 2, 3].map((node) => ({ node, digest: "x" }))).decided).toBeNull();
    expect(majorityVote(4, [{ node: 0, digest: "a" }, { node: 1, digest: "a" }, { node: 2, digest: "b" }, { node: 3, digest: "b" }]).decided).toBeNull();
  });

  it("treats a missing file as an answer like any digest", () => {
    expect(majorityVote(3, [{ node: 0, digest: MISSING }, { node: 1, digest: "a" }, { node: 2, digest: "a" }]).minority).toEqual([0]);
  });

  it("never lets a minority overrule a majority, for any answers", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }).chain((n) => fc.tuple(fc.constant(n), answersArb(n))), ([expected, answers]) => {
        expect(minorityNeverOverrules(expected, answers, majorityVote(expected, answers))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("catches a plurality-of-responders rule breaking that invariant", () => {
    const found = fc.check(
      fc.property(fc.integer({ min: 1, max: 9 }).chain((n) => fc.tuple(fc.constant(n), answersArb(n))), ([expected, answers]) => minorityNeverOverrules(expected, answers, plurality(expected, answers))),
      { numRuns: 500, seed: 1 },
    );
    expect(found.failed).toBe(true);
  });

  it("runs a round: asks every node, votes at the deadline with what came, repairs the minority", () => {
    const asked: number[] = [];
    const repairs: [number, number, number][] = [];
    const verdicts: (string | null)[] = [];
    const round = new ChecksumRound([0, 1, 2, 3, 4], 2, { answerDeadlineUs: 1000, filesMax: 10 }, {
      ask: (_now, node) => asked.push(node),
      decided: (_now, _file, v) => verdicts.push(v.decided),
      repair: (_now, node, file, source) => repairs.push([node, file, source]),
    });
    round.start(0);
    round.answered(10, 0, ["a", "x"]);
    round.answered(10, 1, ["a", "y"]);
    round.answered(10, 2, ["b", "x"]);
    round.answered(10, 3, ["a", "x"]);
    round.poll(999);
    expect(round.done).toBe(false);
    round.poll(1000);
    expect(asked).toEqual([0, 1, 2, 3, 4]);
    expect(verdicts).toEqual(["a", "x"]);
    expect(repairs).toEqual([[2, 0, 0], [1, 1, 0]]);
    round.answered(1001, 4, ["a", "x"]);
    expect(round.lateAnswers).toBe(1);
  });
});

describe("quorum: edges", () => {
  const as = (digests: string[]): ChecksumAnswer[] => digests.map((digest, node) => ({ node, digest }));

  it("needs more than half of all nodes asked: 3 of 4 and 3 of 5 decide, 2 of 4 does not", () => {
    expect(majorityVote(4, as(["a", "a", "a"])).decided).toBe("a");
    expect(majorityVote(4, as(["a", "a", "b"]))).toEqual({ decided: null, supporters: 2, expected: 4, answered: 3, minority: [], source: null });
    expect(majorityVote(5, as(["a", "b", "a", "a"]))).toEqual({ decided: "a", supporters: 3, expected: 5, answered: 4, minority: [1], source: 0 });
    expect(majorityVote(1, as(["a"])).decided).toBe("a");
  });

  it("decides nothing from no answers, and honours a larger quorum minimum", () => {
    expect(majorityVote(3, [])).toEqual({ decided: null, supporters: 0, expected: 3, answered: 0, minority: [], source: null });
    expect(majorityVote(0, [])).toMatchObject({ decided: null });
    expect(majorityVote(3, as(["a", "a"]), 3).decided).toBeNull();
    expect(majorityVote(3, as(["a", "a", "a"]), 3).decided).toBe("a");
    expect(majorityVote(3, as(["a", "a"]), 1).decided).toBe("a");
  });

  it("repairs from the first majority node that answered, whatever its number", () => {
    const v = majorityVote(4, [
      { node: 9, digest: "b" },
      { node: 7, digest: "a" },
      { node: 2, digest: "a" },
      { node: 5, digest: "a" },
    ]);
    expect(v).toMatchObject({ decided: "a", source: 7, minority: [9] });
  });

  it("refuses a round of no files or more files than its limits", () => {
    const port = { ask: () => {}, decided: () => {}, repair: () => {} };
    expect(() => new ChecksumRound([0], 0, { answerDeadlineUs: 1, filesMax: 10 }, port)).toThrow("checksum round: files 0 out of range");
    expect(() => new ChecksumRound([0], 11, { answerDeadlineUs: 1, filesMax: 10 }, port)).toThrow("checksum round: files 11 out of range");
    expect(() => new ChecksumRound([0], CHECKSUM_FILES_MAX + 1, { answerDeadlineUs: 1, filesMax: 1e9 }, port)).toThrow(/files 10001 out of range/);
    expect(() => new ChecksumRound([0], 1.5, { answerDeadlineUs: 1, filesMax: 10 }, port)).toThrow(/files 1.5 out of range/);
    expect(new ChecksumRound([0], 10, { answerDeadlineUs: 1, filesMax: 10 }, port).files).toBe(10);
    expect(new ChecksumRound([0], CHECKSUM_FILES_MAX, { answerDeadlineUs: 1, filesMax: 1e9 }, port).files).toBe(CHECKSUM_FILES_MAX);
  });

  function round(nodes: number[], files: number, vote?: VoteRule) {
    const decided: [number, number, Verdict][] = [];
    const repairs: [number, number, number, number][] = [];
    const r = new ChecksumRound(nodes, files, { answerDeadlineUs: 1_000, filesMax: 10 }, {
      ask: () => {},
      decided: (now, file, v) => decided.push([now, file, v]),
      repair: (now, node, file, source) => repairs.push([now, node, file, source]),
    }, vote);
    return { r, decided, repairs };
  }

  it("votes as soon as every node has answered, without waiting for the deadline", () => {
    const { r, decided, repairs } = round([4, 6, 8], 1);
    r.start(100);
    expect(r.nextWakeUs()).toBe(1_100);
    r.answered(200, 4, ["a"]);
    r.answered(300, 8, ["b"]);
    expect(r.done).toBe(false);
    r.answered(400, 6, ["a"]);
    expect(r.done).toBe(true);
    expect(r.nextWakeUs()).toBe(Infinity);
    expect(decided.map(([now, file, v]) => [now, file, v.decided, v.supporters, v.answered])).toEqual([[400, 0, "a", 2, 3]]);
    expect(repairs).toEqual([[400, 8, 0, 4]]);
    // A poll after the vote does not vote again.
    r.poll(2_000);
    expect(decided).toHaveLength(1);
  });

  it("ignores a node's second answer, answers of nodes not asked, and answers with the wrong number of digests", () => {
    const { r, decided, repairs } = round([0, 1, 2], 2);
    r.start(0);
    r.answered(1, 0, ["a", "x"]);
    r.answered(2, 0, ["b", "y"]);
    r.answered(3, 5, ["b", "y"]);
    r.answered(4, 1, ["b"]);
    r.answered(5, 1, ["b", "y", "z"]);
    expect(r.done).toBe(false);
    expect(r.lateAnswers).toBe(0);
    r.poll(999);
    expect(r.done).toBe(false);
    r.poll(1_000);
    // Only node 0's first answer counts: 1 of 3 decides nothing, and nothing is repaired.
    expect(decided.map(([, file, v]) => [file, v.decided, v.supporters, v.answered])).toEqual([[0, null, 1, 1], [1, null, 1, 1]]);
    expect(repairs).toEqual([]);
  });

  it("decides at once a round with no nodes, and votes with the rule it is given", () => {
    const empty = round([], 1);
    empty.r.start(5);
    expect(empty.r.done).toBe(true);
    expect(empty.decided.map(([now, , v]) => [now, v.decided, v.expected])).toEqual([[5, null, 0]]);
    const plural = round([0, 1, 2, 3], 1, plurality);
    plural.r.start(0);
    plural.r.answered(1, 0, ["b"]);
    plural.r.poll(1_000);
    expect(plural.decided[0]?.[2].decided).toBe("b");
  });

  it("repairs nothing when the rule names a minority but no node to repair from", () => {
    const noSource: VoteRule = (expected, answers) => ({ decided: "a", supporters: 1, expected, answered: answers.length, minority: [1], source: null });
    const { r, repairs } = round([0, 1], 1, noSource);
    r.start(0);
    r.answered(1, 0, ["a"]);
    r.answered(1, 1, ["b"]);
    expect(r.done).toBe(true);
    expect(repairs).toEqual([]);
  });

  it("calls a missing file \"missing\", as agents answer it", () => {
    expect(MISSING).toBe("missing");
  });
});
