import { describe, expect, it } from "vitest";
import { CODE_BROKEN, CODE_LATE, CODE_OVERFLOW, CODE_TIMEOUT, USER_ERROR_LIMIT } from "../../core/sync/index.js";
import type { BuiltWorld } from "../../scenarios/build.js";
import { checkInvariants } from "../../scenarios/invariants.js";
import type { Scenario } from "../../scenarios/schema.js";
import { deadlineKept, disturbed, livenessOwed, noEarlyRelease, releasedOnce } from "../../scenarios/sync/invariants.js";
import type { SyncBarrierDecl } from "../../sim/sync/decl.js";
import type { SyncBuilt, SyncServerRecord } from "../../sim/sync/install.js";
import { parse, type Doc } from "./support.js";

/**
 * The sync invariants against hand-built barrier records: the server's inits and releases and each
 * client's first send and outcome set by hand, so each check meets its edges (a send at the
 * release's microsecond, a timeout one microsecond off its deadline, each crash and surplus
 * policy) that a simulated run reaches only by chance. sync.test.ts breaks a simulated run.
 */

/** Host ids: s 0 (the server), m 1 (the initializer), n0..n2 2..4. */
const S = 0;
const doc = (over: Doc = {}): Doc => ({
  name: "hand",
  duration: "20s",
  hosts: [{ name: "s" }, { name: "m" }, { name: "n", count: 3 }],
  network: { defaults: { latency: "100us" } },
  ...over,
});
const scenario = (over: Doc = {}): Scenario => parse(doc(over));

const barrier = (over: Partial<SyncBarrierDecl> = {}): SyncBarrierDecl => ({
  index: 0, name: "b", initializer: 1, waiters: [2, 3], count: 2, initAtUs: 0, arriveAtUs: 0,
  arrive: { kind: "simultaneous" }, arrivalsUs: null, deadlineMs: 0, crash: "tolerant", extra: "late",
  noWait: false, extended: true, errors: new Map(), retransmitUs: 0, retransmitMaxUs: 0, ...over,
});

interface Life {
  host: number;
  firstSendUs: number | null;
  code?: number | null;
  outcomeUs?: number | null;
  conflicts?: number;
  of?: SyncBarrierDecl;
}

function built(b: SyncBarrierDecl, records: Omit<SyncServerRecord, "name" | "generation">[], lives: Life[], others: SyncBarrierDecl[] = []): SyncBuilt {
  const fake = {
    decl: { server: S, barriers: [b, ...others] },
    daemons: [],
    records: records.map((r) => ({ name: b.name, generation: 1, ...r })),
    clients: lives.map((l) => ({
      barrier: l.of ?? b,
      host: l.host,
      init: l.host === (l.of ?? b).initializer,
      firstSendUs: l.firstSendUs,
      outcomeUs: l.outcomeUs ?? null,
      client: { outcome: l.code === undefined || l.code === null ? null : { code: l.code }, conflicts: l.conflicts ?? 0, sends: 1 },
    })),
  };
  return fake as unknown as SyncBuilt;
}

describe("sync-no-early-release against hand-built records", () => {
  const release = (atUs: number, code = 0) => [{ kind: "init" as const, code: 0, atUs: 100 }, { kind: "release" as const, code, atUs }];

  it("holds a release once the initializer and the count of waiters sent, a send at the release's microsecond included", () => {
    const b = barrier();
    expect(noEarlyRelease(scenario(), built(b, release(1000), [{ host: 1, firstSendUs: 50 }, { host: 2, firstSendUs: 500 }, { host: 3, firstSendUs: 1000 }]))).toBeNull();
    expect(noEarlyRelease(scenario(), built(b, release(1000, USER_ERROR_LIMIT - 1), [{ host: 1, firstSendUs: 1000 }, { host: 2, firstSendUs: 500 }, { host: 3, firstSendUs: 1000 }]))).toBeNull();
  });

  it("fails a release before a waiter sent, counting a host's lives once and other barriers' clients not at all", () => {
    const b = barrier();
    const other = barrier({ index: 1, name: "c" });
    const lives: Life[] = [
      { host: 1, firstSendUs: 50 },
      { host: 2, firstSendUs: 500 },
      { host: 2, firstSendUs: 600 },
      { host: 3, firstSendUs: 1001 },
      { host: 3, firstSendUs: 10, of: other },
      { host: 4, firstSendUs: null },
    ];
    expect(noEarlyRelease(scenario(), built(b, release(1000), lives, [other]))).toBe("barrier b released at 1000us with 1 of 2 waiters arrived");
  });

  it("fails a release before the initializer sent, or when it never did", () => {
    const b = barrier();
    const waiters = [{ host: 2, firstSendUs: 500 }, { host: 3, firstSendUs: 500 }];
    expect(noEarlyRelease(scenario(), built(b, release(1000), [{ host: 1, firstSendUs: 1001 }, ...waiters]))).toBe("barrier b released at 1000us before its initializer sent");
    expect(noEarlyRelease(scenario(), built(b, release(1000), [{ host: 1, firstSendUs: null }, ...waiters]))).toBe("barrier b released at 1000us before its initializer sent");
  });

  it("holds a timeout within the server clock's slack of the deadline and fails one a microsecond further", () => {
    // Server clock 1 ms ahead, no drift: slack 1001 us. INIT at 100 us, deadline 10 ms: due at 10100 us.
    const s = scenario({ hosts: [{ name: "s", clockOffset: "1ms" }, { name: "m" }, { name: "n", count: 3 }] });
    const b = barrier({ deadlineMs: 10 });
    const timeout = (atUs: number) => noEarlyRelease(s, built(b, release(atUs, CODE_TIMEOUT), []));
    expect(timeout(10_100 + 1001)).toBeNull();
    expect(timeout(10_100 - 1001)).toBeNull();
    expect(timeout(10_100 + 1002)).toBe("barrier b timed out at 11102us, deadline 10100us");
    expect(timeout(10_100 - 1002)).toBe("barrier b timed out at 9098us, deadline 10100us");
  });

  it("fails a timeout with no deadline, or with no first INIT heard", () => {
    expect(noEarlyRelease(scenario(), built(barrier(), release(10_100, CODE_TIMEOUT), []))).toBe("barrier b timed out without a deadline");
    const b = barrier({ deadlineMs: 10 });
    const lateInit = built(b, [{ kind: "release", code: CODE_TIMEOUT, atUs: 10_100 }], []);
    (lateInit.records as SyncServerRecord[]).push({ kind: "init", name: "b", generation: 2, code: 0, atUs: 100 });
    expect(noEarlyRelease(scenario(), lateInit)).toBe("barrier b timed out without a deadline");
  });

  it("allows a broken barrier only under the intolerant policy with a participant disturbed before it broke", () => {
    const broke = (b: SyncBarrierDecl, s: Scenario) => noEarlyRelease(s, built(b, release(5_000_000, CODE_BROKEN), []));
    const crashN1 = (at: string) => scenario({ faults: [{ type: "crash", at, hosts: "n1" }] });
    expect(broke(barrier({ crash: "intolerant" }), crashN1("4s"))).toBeNull();
    expect(broke(barrier({ crash: "tolerant" }), crashN1("4s"))).toBe("barrier b broke under the tolerant policy");
    expect(broke(barrier({ crash: "intolerant" }), crashN1("5s"))).toBe("barrier b broke with no participant disturbed");
    // The initializer counts as a participant; a host outside the barrier does not.
    expect(broke(barrier({ crash: "intolerant" }), scenario({ faults: [{ type: "crash", at: "4s", hosts: "m" }] }))).toBeNull();
    expect(broke(barrier({ crash: "intolerant" }), scenario({ faults: [{ type: "crash", at: "4s", hosts: "n2" }] }))).toBe("barrier b broke with no participant disturbed");
  });

  it("fails a release with a code no barrier gives, and outcomes the policy does not allow", () => {
    expect(noEarlyRelease(scenario(), built(barrier(), release(1000, CODE_LATE), []))).toBe(`barrier b released with unexpected code ${CODE_LATE}`);
    const turnedAway = (b: SyncBarrierDecl) => noEarlyRelease(scenario(), built(b, [], [{ host: 4, firstSendUs: 5, code: CODE_OVERFLOW }]));
    expect(turnedAway(barrier({ waiters: [2, 3, 4], count: 2, extra: "late" }))).toBeNull();
    expect(turnedAway(barrier({ waiters: [2, 3, 4], count: 3, extra: "late" }))).toBe("a waiter of b on host 4 was turned away with no surplus");
    expect(turnedAway(barrier({ waiters: [2, 3, 4], count: 2, extra: "new" }))).toBe("a waiter of b on host 4 was turned away with no surplus");
    const toldLate = (b: SyncBarrierDecl) => noEarlyRelease(scenario(), built(b, [], [{ host: 3, firstSendUs: 5, code: CODE_LATE }]));
    expect(toldLate(barrier({ extra: "late" }))).toBeNull();
    expect(toldLate(barrier({ extra: "new" }))).toBe("a waiter of b on host 3 was told late under the new policy");
  });
});

describe("disturbed and livenessOwed", () => {
  it("counts a fault before the time on the host or the server, a partition between them, and a lossy link on either", () => {
    const at = (faults: Doc[], links: Doc[] = []) => scenario({ faults, network: { defaults: { latency: "100us" }, links } });
    expect(disturbed(at([{ type: "crash", at: "1s", hosts: "n0" }]), 2, 1_000_001, S)).toBe(true);
    expect(disturbed(at([{ type: "crash", at: "1s", hosts: "n0" }]), 2, 1_000_000, S)).toBe(false);
    expect(disturbed(at([{ type: "crash", at: "1s", hosts: "n0" }]), 3, 2_000_000, S)).toBe(false);
    expect(disturbed(at([{ type: "pause", at: "1s", hosts: "s", for: "1s" }]), 3, 2_000_000, S)).toBe(true);
    expect(disturbed(at([{ type: "partition", at: "1s", a: "n0", b: "s" }]), 2, 2_000_000, S)).toBe(true);
    expect(disturbed(at([{ type: "partition", at: "1s", a: "s", b: "n0" }]), 2, 2_000_000, S)).toBe(true);
    expect(disturbed(at([{ type: "partition", at: "1s", a: "n0", b: "n1" }]), 2, 2_000_000, S)).toBe(false);
    expect(disturbed(at([{ type: "partition", at: "1s", a: "n0", b: "m" }]), 2, 2_000_000, S)).toBe(false);
    expect(disturbed(at([], [{ hosts: "n0", loss: 0.01 }]), 2, 0, S)).toBe(true);
    expect(disturbed(at([], [{ hosts: "s", loss: 0.01 }]), 2, 0, S)).toBe(true);
    expect(disturbed(at([], [{ hosts: "n1", loss: 0.01 }]), 2, 0, S)).toBe(false);
    expect(disturbed(at([], [{ hosts: "n0", loss: null }, { hosts: "n0", latency: "1ms" }]), 2, 0, S)).toBe(false);
  });

  it("owes an outcome with a deadline only once the INIT was heard, and otherwise only when all expected can arrive", () => {
    const s = scenario();
    expect(livenessOwed(s, barrier({ deadlineMs: 5 }), true)).toBe(true);
    expect(livenessOwed(s, barrier({ deadlineMs: 5 }), false)).toBe(false);
    expect(livenessOwed(s, barrier(), false)).toBe(true);
    expect(livenessOwed(s, barrier({ waiters: [2, 3, 4], count: 2, extra: "late" }), true)).toBe(true);
    expect(livenessOwed(s, barrier({ waiters: [2, 3, 4], count: 2, extra: "new" }), true)).toBe(false);
    expect(livenessOwed(s, barrier({ waiters: [2, 3], count: 3, extra: "late" }), true)).toBe(false);
  });

  it("owes nothing when a participant crashes, nor to the original's client on a lossy network", () => {
    const crash = (hosts: string) => scenario({ faults: [{ type: "crash", at: "1s", hosts }] });
    expect(livenessOwed(crash("n1"), barrier(), true)).toBe(false);
    expect(livenessOwed(crash("m"), barrier(), true)).toBe(false);
    expect(livenessOwed(crash("n2"), barrier(), true)).toBe(true);
    const lossyLink = scenario({ network: { links: [{ hosts: "n2", loss: 0.01 }] } });
    const lossFault = scenario({ faults: [{ type: "loss", at: "1s", hosts: "n2", loss: 0.01 }] });
    const noLoss = scenario({ network: { links: [{ hosts: "n2", loss: null }] } });
    for (const s of [lossyLink, lossFault]) {
      expect(livenessOwed(s, barrier({ extended: true }), true)).toBe(true);
      expect(livenessOwed(s, barrier({ extended: false }), true)).toBe(false);
    }
    expect(livenessOwed(noLoss, barrier({ extended: false }), true)).toBe(true);
  });
});

describe("sync-released-once against hand-built outcomes", () => {
  const up = () => true;
  const records = [{ kind: "init" as const, code: 0, atUs: 100 }, { kind: "release" as const, code: 0, atUs: 1000 }];
  const all = (code: number | null): Life[] => [1, 2, 3].map((host) => ({ host, firstSendUs: 50, code }));

  it("holds when each participant was released once, and names a reply with another code first", () => {
    expect(releasedOnce(scenario(), built(barrier(), records, all(0)), up)).toBeNull();
    const lives = all(null);
    lives[2]!.conflicts = 2;
    expect(releasedOnce(scenario(), built(barrier(), records, lives), up)).toBe("client of b on host 3 got 2 replies with another code");
  });

  it("fails a participant never released, or run twice or never, unless crashed, down, or the server crashed", () => {
    const lives = all(0);
    lives[1]!.code = null;
    expect(releasedOnce(scenario(), built(barrier(), records, lives), up)).toBe("client of b on host 2 was never released");
    expect(releasedOnce(scenario(), built(barrier(), records, lives), (h) => h !== 2)).toBeNull();
    expect(releasedOnce(scenario(), built(barrier(), records, [...all(0), { host: 3, firstSendUs: 60, code: 0 }]), up)).toBe("host 3 ran 2 clients of b");
    expect(releasedOnce(scenario(), built(barrier(), records, all(0).slice(0, 2)), up)).toBe("host 3 ran 0 clients of b");
    // A crash that restarts: the host is up at the end but owed nothing (nor are the others: liveness is not owed).
    expect(releasedOnce(scenario({ faults: [{ type: "crash", at: "1s", hosts: "n0", restart: "1s" }] }), built(barrier(), records, lives), up)).toBeNull();
    expect(releasedOnce(scenario({ faults: [{ type: "crash", at: "1s", hosts: "s", restart: "1s" }] }), built(barrier(), records, lives), up)).toBeNull();
    // Under a deadline liveness is owed whatever crashes; a crashed participant is still let off.
    const timed = barrier({ deadlineMs: 5 });
    expect(releasedOnce(scenario({ faults: [{ type: "crash", at: "1s", hosts: "n0", restart: "1s" }] }), built(timed, records, lives), up)).toBeNull();
    expect(releasedOnce(scenario({ faults: [{ type: "crash", at: "1s", hosts: "n1", restart: "1s" }] }), built(timed, records, lives), up)).toBe("client of b on host 2 was never released");
  });

  it("lets off, under the new policy, a waiter whose request reached the server after the release", () => {
    // Path slack: 4 x 100 us + 1000 us = 1400 us; the release is at 10000 us.
    const b = barrier({ extra: "new" });
    const releasedAt = [{ kind: "init" as const, code: 0, atUs: 100 }, { kind: "release" as const, code: 0, atUs: 10_000 }];
    const waiter = (firstSendUs: number): Life[] => [{ host: 1, firstSendUs: 50, code: 0 }, { host: 2, firstSendUs: 50, code: 0 }, { host: 3, firstSendUs, code: null }];
    expect(releasedOnce(scenario(), built(b, releasedAt, waiter(8_601)), up)).toBeNull();
    expect(releasedOnce(scenario(), built(b, releasedAt, waiter(8_600)), up)).toBe("client of b on host 3 was never released");
    expect(releasedOnce(scenario(), built(barrier(), releasedAt, waiter(8_601)), up)).toBe("client of b on host 3 was never released");
    // With no release at all, nobody is let off.
    expect(releasedOnce(scenario(), built(b, releasedAt.slice(0, 1), waiter(50_000)), up)).toBe("client of b on host 3 was never released");
    // Nor is a waiter whose path was disturbed before the release.
    const paused = scenario({ faults: [{ type: "pause", at: "0s", hosts: "n1", for: "1s" }] });
    expect(releasedOnce(paused, built(b, releasedAt, waiter(8_600)), up)).toBeNull();
  });
});

describe("sync-deadline-kept against hand-built times", () => {
  // INIT at 100 us, deadline 10 ms: due 10100 us + 1 us of clock slack; notice by due + 4 x 100 us + 100 ms.
  const DUE = 10_101;
  const NOTICE = DUE + 400 + 100_000;
  const b = barrier({ deadlineMs: 10 });
  const at = (releaseUs: number | null, lives: Life[], bb = b) =>
    built(bb, [{ kind: "init", code: 0, atUs: 100 }, ...(releaseUs === null ? [] : [{ kind: "release" as const, code: CODE_TIMEOUT, atUs: releaseUs }])], lives);

  it("fails a release after the deadline and its clock slack", () => {
    expect(deadlineKept(scenario(), at(DUE, []))).toBeNull();
    expect(deadlineKept(scenario(), at(DUE + 1, []))).toBe(`barrier b released at ${DUE + 1}us, after its deadline ${DUE}us`);
    expect(deadlineKept(scenario(), built(barrier(), [{ kind: "release", code: 0, atUs: 1e9 }], []))).toBeNull();
    expect(deadlineKept(scenario(), built(b, [{ kind: "release", code: 0, atUs: 1e9 }], []))).toBeNull();
  });

  it("fails a client on an undisturbed path that learnt of the release after the notice time", () => {
    const learnt = (outcomeUs: number | null, firstSendUs = 50) => at(DUE, [{ host: 2, firstSendUs, code: 0, outcomeUs }]);
    expect(deadlineKept(scenario(), learnt(NOTICE))).toBeNull();
    expect(deadlineKept(scenario(), learnt(NOTICE + 1))).toBe(`client of b on host 2 learnt of the release at ${NOTICE + 1}, deadline ${DUE}us`);
    expect(deadlineKept(scenario(), learnt(null))).toBe(`client of b on host 2 learnt of the release at never, deadline ${DUE}us`);
    // A client that first sent after the release, or never, is not judged; one sending at its microsecond is.
    expect(deadlineKept(scenario(), learnt(null, DUE + 1))).toBeNull();
    expect(deadlineKept(scenario(), at(DUE, [{ host: 2, firstSendUs: null }]))).toBeNull();
    expect(deadlineKept(scenario(), learnt(null, DUE))).toMatch(/learnt of the release at never/);
    // With no release, the deadline is the end.
    expect(deadlineKept(scenario(), at(null, [{ host: 2, firstSendUs: DUE, code: null }]))).toMatch(/learnt of the release at never/);
    expect(deadlineKept(scenario(), at(null, [{ host: 2, firstSendUs: DUE + 1, code: null }]))).toBeNull();
  });

  it("judges no client when the run ends by the notice time, nor one on a disturbed path, nor another barrier's", () => {
    const late = [{ host: 2, firstSendUs: 50, code: 0, outcomeUs: null }];
    expect(deadlineKept(scenario({ duration: `${NOTICE}us` }), at(DUE, late))).toBeNull();
    expect(deadlineKept(scenario({ duration: `${NOTICE + 1}us` }), at(DUE, late))).toMatch(/host 2 learnt/);
    expect(deadlineKept(scenario({ faults: [{ type: "pause", at: "0s", hosts: "n0", for: "1s" }] }), at(DUE, late))).toBeNull();
    const other = barrier({ index: 1, name: "c" });
    expect(deadlineKept(scenario(), built(b, [{ kind: "init", code: 0, atUs: 100 }, { kind: "release", code: CODE_TIMEOUT, atUs: DUE }], [{ ...late[0]!, of: other }], [other]))).toBeNull();
  });

  it("lets off, under the new policy, a client whose request reached the server after the release", () => {
    const fresh = barrier({ deadlineMs: 10, extra: "new" });
    // Path slack 1400 us: a send at DUE - 1400 reaches the server by the release; one a microsecond later may not.
    const send = (firstSendUs: number) => deadlineKept(scenario(), at(DUE, [{ host: 2, firstSendUs, code: null }], fresh));
    expect(send(DUE - 1400)).toMatch(/learnt of the release at never/);
    expect(send(DUE - 1399)).toBeNull();
  });
});

describe("checkInvariants on a world whose sync records are hand-built", () => {
  const names = ["sync-no-early-release", "sync-released-once", "sync-deadline-kept"];
  /** The scenario's world, with the host states `states` at the end and `sync` as its records. */
  const judged = (sync: SyncBuilt, states: string[] = ["up", "up", "up", "up", "up"]) => {
    const world = { world: { hosts: states.map((state, h) => ({ name: `h${h}`, state })) }, sync, frisbee: null };
    return checkInvariants(scenario({ invariants: names }), world as unknown as BuiltWorld).map((r) => r.detail);
  };
  const init = { kind: "init" as const, code: 0, atUs: 100 };

  it("reports each sync invariant's failure", () => {
    const b = barrier({ deadlineMs: 10 });
    const early = built(b, [init, { kind: "release", code: 0, atUs: 1000 }], [{ host: 1, firstSendUs: 50, code: 0, outcomeUs: 1000 }, { host: 2, firstSendUs: 50, code: 0, outcomeUs: 1000 }, { host: 3, firstSendUs: 2000, code: 0, outcomeUs: 2000 }]);
    expect(judged(early)).toEqual(["barrier b released at 1000us with 1 of 2 waiters arrived", "held", "held"]);
    const late = built(b, [init, { kind: "release", code: 0, atUs: 20_000 }], [1, 2, 3].map((host) => ({ host, firstSendUs: 50, code: 0, outcomeUs: 20_000 })));
    expect(judged(late)).toEqual(["held", "held", "barrier b released at 20000us, after its deadline 10101us"]);
  });

  it("lets off in sync-released-once a participant whose host is crashed at the end, and only that one", () => {
    const b = barrier();
    const lives: Life[] = [{ host: 1, firstSendUs: 50, code: 0 }, { host: 2, firstSendUs: 50, code: 0 }, { host: 3, firstSendUs: 50, code: null }];
    const records = [init, { kind: "release" as const, code: 0, atUs: 1000 }];
    expect(judged(built(b, records, lives))).toEqual(["held", "client of b on host 3 was never released", "held"]);
    expect(judged(built(b, records, lives), ["up", "up", "up", "crashed", "up"])).toEqual(["held", "held", "held"]);
    expect(judged(built(b, records, lives), ["up", "up", "crashed", "paused", "up"])).toEqual(["held", "client of b on host 3 was never released", "held"]);
  });
});

describe("sync invariants: edges the mutation run left", () => {
  it("counts a partition as disturbing a host only when it cuts the host off from the server", () => {
    // n0 (2) on the b side, the server not on the a side: n0 still reaches the server.
    const cut = (a: string, b: string) => scenario({ faults: [{ type: "partition", at: "1s", a, b }] });
    expect(disturbed(cut("n1", "n0"), 2, 2_000_000, S)).toBe(false);
    expect(disturbed(cut("m", "n0"), 2, 2_000_000, S)).toBe(false);
    expect(disturbed(cut("s", "n0"), 2, 2_000_000, S)).toBe(true);
  });

  it("widens a timeout's slack by the server clock's drift over the run", () => {
    // Server clock drifting 100 ppm over 20 s: slack 2000 us + 1. INIT at 100 us, deadline 10 ms: due at 10100 us.
    const s = scenario({ hosts: [{ name: "s", clockDriftPpm: 100 }, { name: "m" }, { name: "n", count: 3 }] });
    const b = barrier({ deadlineMs: 10 });
    const timeout = (atUs: number) => noEarlyRelease(s, built(b, [{ kind: "init", code: 0, atUs: 100 }, { kind: "release", code: CODE_TIMEOUT, atUs }], []));
    expect(timeout(10_100 + 2001)).toBeNull();
    expect(timeout(10_100 - 2001)).toBeNull();
    expect(timeout(10_100 + 2002)).toBe("barrier b timed out at 12102us, deadline 10100us");
    // A drift the other way widens it the same.
    const back = scenario({ hosts: [{ name: "s", clockDriftPpm: -100 }, { name: "m" }, { name: "n", count: 3 }] });
    expect(noEarlyRelease(back, built(b, [{ kind: "init", code: 0, atUs: 100 }, { kind: "release", code: CODE_TIMEOUT, atUs: 10_100 + 2001 }], []))).toBeNull();
  });

  it("fails a release with the first code past the user's range even when everyone sent", () => {
    const sent = [{ host: 1, firstSendUs: 50 }, { host: 2, firstSendUs: 50 }, { host: 3, firstSendUs: 50 }];
    const records = (code: number) => [{ kind: "init" as const, code: 0, atUs: 100 }, { kind: "release" as const, code, atUs: 1000 }];
    expect(noEarlyRelease(scenario(), built(barrier(), records(USER_ERROR_LIMIT - 1), sent))).toBeNull();
    expect(noEarlyRelease(scenario(), built(barrier(), records(USER_ERROR_LIMIT), sent))).toBe(`barrier b released with unexpected code ${USER_ERROR_LIMIT}`);
  });

  it("owes an outcome whatever faults other than crashes touch the participants, and to the original's client unless a link or fault loses", () => {
    // A pause is not a crash: the paused participant still arrives.
    expect(livenessOwed(scenario({ faults: [{ type: "pause", at: "1s", hosts: "n0", for: "1s" }] }), barrier(), true)).toBe(true);
    // The original's client (not extended) is owed nothing if any one link loses, even beside links that do not.
    const links = (l: Doc[]) => scenario({ network: { defaults: { latency: "100us" }, links: l } });
    const original = barrier({ extended: false });
    expect(livenessOwed(links([{ hosts: "n2", loss: 0.01 }, { hosts: "n1", latency: "1ms" }]), original, true)).toBe(false);
    // A link with no loss given, no link at all, or a fault that loses nothing: owed.
    expect(livenessOwed(links([{ hosts: "n1", latency: "1ms" }]), original, true)).toBe(true);
    expect(livenessOwed(links([]), original, true)).toBe(true);
    expect(livenessOwed(scenario({ faults: [{ type: "pause", at: "1s", hosts: "n2", for: "1s" }] }), original, true)).toBe(true);
  });

  it("lets off, under the new policy, a waiter by the slowest link's latency, not the default's", () => {
    // n2 (host 4, outside the barrier) on a 1 ms link: path slack 4 x 1000 us + 1000 us = 5000 us.
    const s = scenario({ network: { defaults: { latency: "100us" }, links: [{ hosts: "n2", latency: "1ms" }] } });
    const b = barrier({ extra: "new" });
    const releasedAt = [{ kind: "init" as const, code: 0, atUs: 100 }, { kind: "release" as const, code: 0, atUs: 10_000 }];
    const waiter = (firstSendUs: number): Life[] => [{ host: 1, firstSendUs: 50, code: 0 }, { host: 2, firstSendUs: 50, code: 0 }, { host: 3, firstSendUs, code: null }];
    expect(releasedOnce(s, built(b, releasedAt, waiter(5_001)), () => true)).toBeNull();
    expect(releasedOnce(s, built(b, releasedAt, waiter(5_000)), () => true)).toBe("client of b on host 3 was never released");
  });

  it("lets off in sync-released-once only hosts that crashed, not ones paused, and owes nothing under a deadline whose INIT was never heard", () => {
    const lives: Life[] = [{ host: 1, firstSendUs: 50, code: 0 }, { host: 2, firstSendUs: 50, code: null }, { host: 3, firstSendUs: 50, code: 0 }];
    const records = [{ kind: "init" as const, code: 0, atUs: 100 }, { kind: "release" as const, code: 0, atUs: 1000 }];
    const paused = scenario({ faults: [{ type: "pause", at: "0s", hosts: "n0", for: "1s" }, { type: "partition", at: "5s", a: "n2", b: "s" }] });
    expect(releasedOnce(paused, built(barrier(), records, lives), () => true)).toBe("client of b on host 2 was never released");
    const timed = barrier({ deadlineMs: 5 });
    expect(releasedOnce(scenario(), built(timed, records.slice(1), lives), () => true)).toBeNull();
    expect(releasedOnce(scenario(), built(timed, records, lives), () => true)).toBe("client of b on host 2 was never released");
  });

  it("gives a client on an undisturbed path the slowest link's latency to learn of a timeout", () => {
    // n2 (host 4, outside the barrier) on a 1 ms link: notice by due + 4 x 1000 us + 100 ms.
    const s = scenario({ network: { defaults: { latency: "100us" }, links: [{ hosts: "n2", latency: "1ms" }] } });
    const DUE = 10_101;
    const NOTICE = DUE + 4000 + 100_000;
    const b = barrier({ deadlineMs: 10 });
    const learnt = (outcomeUs: number) =>
      deadlineKept(s, built(b, [{ kind: "init", code: 0, atUs: 100 }, { kind: "release", code: CODE_TIMEOUT, atUs: DUE }], [{ host: 2, firstSendUs: 50, code: CODE_TIMEOUT, outcomeUs }]));
    expect(learnt(NOTICE)).toBeNull();
    expect(learnt(NOTICE + 1)).toBe(`client of b on host 2 learnt of the release at ${NOTICE + 1}, deadline ${DUE}us`);
  });
});
