import type { Micros } from "../engine/time.js";

/**
 * Quorum checksums: a named file is hashed on every node, and the copy that more than half of all
 * the nodes asked hold is the right one. Half is counted over every node asked, not over those that
 * answered, so a minority can never decide while the rest are silent (a partition), and a tie
 * decides nothing. The nodes that answered something else are the minority: reported, and
 * repairable from a node of the majority. A missing file is a value like any digest.
 */
export const MISSING = "missing";

export interface ChecksumAnswer {
  readonly node: number;
  /** A digest, or MISSING. */
  readonly digest: string;
}

export interface Verdict {
  /** The majority's digest, or null when no digest has a quorum. */
  readonly decided: string | null;
  readonly supporters: number;
  readonly expected: number;
  readonly answered: number;
  /** Nodes that answered a digest other than the decided one (empty without a decision). */
  readonly minority: readonly number[];
  /** A node of the majority to repair from (null without a decision). */
  readonly source: number | null;
}

export type VoteRule = (expected: number, answers: readonly ChecksumAnswer[]) => Verdict;

/** Supporters must be more than half of all nodes asked, and at least quorumMin. */
export function majorityVote(expected: number, answers: readonly ChecksumAnswer[], quorumMin = 1): Verdict {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a.digest, (counts.get(a.digest) ?? 0) + 1);
  let best: string | null = null;
  let bestCount = 0;
  for (const [digest, count] of counts) {
    if (count > bestCount) {
      best = digest;
      bestCount = count;
    }
  }
  const quorum = Math.max(Math.floor(expected / 2) + 1, quorumMin);
  if (best === null || bestCount < quorum) return { decided: null, supporters: bestCount, expected, answered: answers.length, minority: [], source: null };
  const decided = best;
  const minority = answers.filter((a) => a.digest !== decided).map((a) => a.node);
  const source = (answers.find((a) => a.digest === decided) as ChecksumAnswer).node;
  return { decided, supporters: bestCount, expected, answered: answers.length, minority, source };
}

export interface ChecksumRoundConfig {
  /** Answers are awaited this long after the round starts; then the round is decided with what came. */
  readonly answerDeadlineUs: Micros;
  /** Files per round at most (each is one vote). */
  readonly filesMax: number;
}

export const CHECKSUM_FILES_MAX = 10_000;

export interface ChecksumRoundPort {
  /** Ask a node for the digests of the round's files; answer with `answered`. */
  ask(now: Micros, node: number): void;
  /** A file's verdict; `repair` follows for each minority node. */
  decided(now: Micros, file: number, verdict: Verdict): void;
  /** Copy `file` from `source` (a majority node) to `node`. */
  repair(now: Micros, node: number, file: number, source: number): void;
}

/**
 * One round of the checksum sweep: ask every node, collect answers until all are in or the
 * deadline passes, then vote file by file. Late answers (after the vote) are ignored and counted.
 */
export class ChecksumRound {
  private readonly answers: ChecksumAnswer[][];
  private readonly answeredNodes = new Set<number>();
  private deadlineUs = Infinity;
  done = false;
  lateAnswers = 0;

  constructor(
    readonly nodes: readonly number[],
    readonly files: number,
    readonly config: ChecksumRoundConfig,
    private readonly port: ChecksumRoundPort,
    private readonly vote: VoteRule = majorityVote,
  ) {
    if (!Number.isInteger(files) || files < 1 || files > Math.min(config.filesMax, CHECKSUM_FILES_MAX)) throw new Error(`checksum round: files ${files} out of range`);
    this.answers = Array.from({ length: files }, () => []);
  }

  start(now: Micros): void {
    this.deadlineUs = now + this.config.answerDeadlineUs;
    for (const n of this.nodes) this.port.ask(now, n);
    if (this.nodes.length === 0) this.finish(now);
  }

  /** A node's digests, one per file in order. */
  answered(now: Micros, node: number, digests: readonly string[]): void {
    if (this.done) {
      this.lateAnswers++;
      return;
    }
    if (this.answeredNodes.has(node) || !this.nodes.includes(node) || digests.length !== this.files) return;
    this.answeredNodes.add(node);
    digests.forEach((digest, f) => (this.answers[f] as ChecksumAnswer[]).push({ node, digest }));
    if (this.answeredNodes.size === this.nodes.length) this.finish(now);
  }

  poll(now: Micros): void {
    if (!this.done && now >= this.deadlineUs) this.finish(now);
  }

  nextWakeUs(): Micros {
    return this.done ? Infinity : this.deadlineUs;
  }

  private finish(now: Micros): void {
    this.done = true;
    this.answers.forEach((answers, file) => {
      const verdict = this.vote(this.nodes.length, answers);
      this.port.decided(now, file, verdict);
      if (verdict.source === null) return;
      for (const node of verdict.minority) this.port.repair(now, node, file, verdict.source);
    });
  }
}
