import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChecksumRound, MISSING, majorityVote, type ChecksumAnswer, type Verdict, type VoteRule } from "../../../core/service/index.js";

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
