import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";
import { writeDiskLikeFile } from "../../real/image/index.js";
import { expectOneLineError, ROOT, snapshot, startTestbed, testbedIn } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

/*
 * Issue 19's cases, each as a user would meet it: the mistake is refused in one line with the
 * documented exit code, and nothing the user had is changed or lost.
 */

const root = mkdtempSync(join(tmpdir(), "testbed-safety-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let serial = 0;
function folder(): string {
  const d = join(root, String(serial++));
  mkdirSync(d);
  return d;
}

const MIB = 2 ** 20;

/** A folder with a 4 MiB disk-like file and its image. */
async function diskAndImage(): Promise<string> {
  const d = folder();
  await writeDiskLikeFile(join(d, "disk.raw"), 4 * MIB, 3);
  expect((await testbedIn(d, "image", "create", "disk.raw", "s.ndz")).code).toBe(0);
  return d;
}

describe("an output that is an input is refused before anything is opened", () => {
  it("image unzip s.ndz s.ndz: exit 2, the image unchanged", async () => {
    const d = await diskAndImage();
    const before = snapshot(d);
    expectOneLineError(await testbedIn(d, "image", "unzip", "s.ndz", "s.ndz"), 2, /^testbed: s\.ndz: the target is the same file as the input s\.ndz; nothing was written$/);
    expect(snapshot(d)).toEqual(before);
    expect((await testbedIn(d, "image", "info", "s.ndz")).code).toBe(0);
  });

  it("image create disk.raw disk.raw, directly and through a link: exit 2, the disk unchanged", async () => {
    const d = await diskAndImage();
    symlinkSync("disk.raw", join(d, "link.raw"));
    const before = snapshot(d);
    expectOneLineError(await testbedIn(d, "image", "create", "disk.raw", "disk.raw"), 2, /the image is the same file as the input disk\.raw/);
    expectOneLineError(await testbedIn(d, "image", "create", "disk.raw", "link.raw"), 2, /the image is the same file as the input disk\.raw/);
    expectOneLineError(await testbedIn(d, "image", "create", "link.raw", "disk.raw"), 2, /the image is the same file as the input link\.raw/);
    expect(snapshot(d)).toEqual(before);
  });
});

describe("a write-protected output", () => {
  it("image create disk.raw ro.ndz: refused in one line, ro.ndz kept as it was", async () => {
    const d = await diskAndImage();
    writeFileSync(join(d, "ro.ndz"), "the user's read-only file");
    chmodSync(join(d, "ro.ndz"), 0o444);
    const before = snapshot(d);
    expectOneLineError(await testbedIn(d, "image", "create", "disk.raw", "ro.ndz"), 2, /^testbed: ro\.ndz: the image exists and is write-protected; nothing was written$/);
    expect(snapshot(d)).toEqual(before);
  });
});

describe("an interrupted image create", () => {
  it("leaves nothing under the image's name, says so in one line, and exits 130", async () => {
    const d = folder();
    await writeDiskLikeFile(join(d, "disk.raw"), 48 * MIB, 5);
    const before = snapshot(d);
    const run = startTestbed(d, "image", "create", "disk.raw", "x.ndz", "-z", "9", "-j", "1");
    // The temporary file exists from the start; wait for it, so the interrupt lands mid-run.
    while (!readdirSync(d).some((n) => n.endsWith(".tmp")) && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    run.child.kill("SIGINT");
    const r = await run.exited;
    if (r.code === 0) return; // finished before the signal landed: nothing to judge (never seen at 48 MiB, level 9)
    expectOneLineError(r, 130, /^testbed: interrupted by SIGINT; nothing written to x\.ndz$/);
    expect(snapshot(d)).toEqual(before);
  });
});

/** Waits until `ready()` holds or the process has ended. */
async function until(ready: () => boolean, run: { child: { exitCode: number | null } }): Promise<void> {
  while (!ready() && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
}

describe("interrupted long commands stop at once, say what was left, and leave nothing half done", () => {
  it("plan frisbee: no row stored, no chart, exit 130", async () => {
    const d = folder();
    const run = startTestbed(d, "plan", "frisbee", "--clients", "1,300", "--loss", "0.01", "--image-mib", "300", "--data-mib", "900", "--model", "packet", "--db", "p.db", "--svg", "p.svg");
    // The handler is in place before the store file appears, so a signal from then on (even while the
    // store opens) finds it: it closes the store and says what was left.
    await until(() => existsSync(join(d, "p.db")), run);
    run.child.kill("SIGINT");
    const r = await run.exited;
    expectOneLineError(r, 130, /^testbed: interrupted by SIGINT; [01] of 2 rows computed; none stored, no chart written$/);
    expect(readdirSync(d)).toEqual(["p.db"]);
    expect((await testbedIn(d, "runs", "--db", "p.db")).stdout).toMatch(/^no runs in p\.db/);
  });

  it("sim: SIGTERM stores no run and exits 143", async () => {
    const d = folder();
    const scenario = join(d, "long.json");
    writeFileSync(scenario, JSON.stringify({ seed: 1, duration: "100000s", hosts: [{ name: "a" }, { name: "b" }], workloads: [{ type: "traffic", from: "a", to: "b", rate: "10Mbit", packet: "1000" }] }));
    const run = startTestbed(d, "sim", scenario, "--db", "s.db");
    await run.waitFor(/^seed: 1$/m);
    run.child.kill("SIGTERM");
    const r = await run.exited;
    expectOneLineError(r, 143, /^testbed: interrupted by SIGTERM; no run stored$/);
    expect((await testbedIn(d, "runs", "--db", "s.db")).stdout).toMatch(/^no runs in s\.db/);
  });

  it("exp demo (npm start): the swap ends failed with the reason, the store is closed cleanly", async () => {
    const d = folder();
    const run = startTestbed(d, "exp", "demo", "--nodes", "500", "--db", "demo.db");
    // Mid-swap: the first load has been reported.
    await run.waitFor(/first node loaded/);
    run.child.kill("SIGINT");
    const r = await run.exited;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 130, stderr: "" });
    expect(r.stdout).toMatch(/^swapin of demo-500 \(simulated, seed 1\): failed — interrupted by SIGINT$/m);
    expect(readdirSync(d)).toEqual(["demo.db"]);
    expect((await testbedIn(d, "exp", "list", "--db", "demo.db")).stdout).toMatch(/^demo-500 +failed /m);
  });

  it("exp swapin: a signal ends the swap as failed with the reason, stored, and exits 128 + the signal", async () => {
    const d = folder();
    writeFileSync(join(d, "s.json"), (await testbedIn(d, "exp", "template", "--nodes", "20", "--sim", "--name", "s")).stdout);
    expect((await testbedIn(d, "exp", "create", "s.json", "--db", "s.db")).code).toBe(0);
    // --speed 1: the simulated swap takes tens of wall seconds, so the signal lands mid-swap.
    const run = startTestbed(d, "exp", "swapin", "s", "--sim", "--seed", "1", "--speed", "1", "--db", "s.db");
    const state = async (): Promise<string> => (JSON.parse((await testbedIn(d, "exp", "show", "s", "--db", "s.db", "--json")).stdout) as { state: string }).state;
    while ((await state()) !== "swapping-in") await new Promise((r) => setTimeout(r, 100));
    run.child.kill("SIGTERM");
    const r = await run.exited;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 143, stderr: "" });
    expect(r.stdout).toMatch(/^swapin of s \(simulated, seed 1\): failed — interrupted by SIGTERM$/m);
    expect(readdirSync(d).sort()).toEqual(["s.db", "s.json"]);
    expect(await state()).toBe("failed");
  });

  it("bench image: its scratch folder is removed, the folder given is left as it was", async () => {
    const d = folder();
    writeFileSync(join(d, "keep.txt"), "the user's");
    const run = startTestbed(d, "bench", "image", "--size-mib", "256", "--dir", d);
    // Mid-work: the scratch folder holds the disk being written.
    const scratchDisk = (): boolean => readdirSync(d).some((n) => n.startsWith("testbed-image-bench-") && existsSync(join(d, n, "disk-like.raw")));
    await until(scratchDisk, run);
    run.child.kill("SIGINT");
    const r = await run.exited;
    expectOneLineError(r, 130, /^testbed: interrupted by SIGINT; .*scratch files removed$/);
    expect(readdirSync(d)).toEqual(["keep.txt"]);
  });
});

describe("an interrupted image delta", () => {
  it("leaves nothing under the delta's name, says so in one line, and exits 130", async () => {
    const d = folder();
    await writeDiskLikeFile(join(d, "disk.raw"), 48 * MIB, 5);
    expect((await testbedIn(d, "image", "create", "disk.raw", "s.ndz")).code).toBe(0);
    await writeDiskLikeFile(join(d, "disk.raw"), 48 * MIB, 6); // another disk: the delta is large and slow (level 9)
    const before = snapshot(d);
    const run = startTestbed(d, "image", "delta", "--base", "s.ndz", "disk.raw", "x.ndz", "-z", "9", "--threshold-pct", "100");
    while (!readdirSync(d).some((n) => n.endsWith(".tmp")) && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    run.child.kill("SIGINT");
    const r = await run.exited;
    if (r.code === 0) return; // finished before the signal landed: nothing to judge
    expectOneLineError(r, 130, /^testbed: interrupted by SIGINT; nothing written to x\.ndz$/);
    expect(snapshot(d)).toEqual(before);
  });
});

describe("the store", () => {
  it("runs --db typo.db: refused, and no store is created", async () => {
    const d = folder();
    expectOneLineError(await testbedIn(d, "runs", "--db", "typo.db"), 1, /^testbed: typo\.db: no such store file/);
    expect(readdirSync(d)).toEqual([]);
  });

  it("an empty or text file given as --db is refused and never turned into a database", async () => {
    const d = folder();
    writeFileSync(join(d, "notes.txt"), "");
    writeFileSync(join(d, "list.txt"), "node1\n");
    writeFileSync(join(d, "nodes"), "node1\n");
    const before = snapshot(d);
    expectOneLineError(await testbedIn(d, "monitor", "--nodes", "nodes", "--test", "true", "--once", "--db", "notes.txt"), 1, /^testbed: notes\.txt: not a testbed database \(empty file\)$/);
    expectOneLineError(await testbedIn(d, "runs", "--db", "list.txt"), 1, /^testbed: list\.txt: not a testbed database/);
    expect(snapshot(d)).toEqual(before);
  });

  it("sim and plan monitor check --db before the run, so a bad store costs no run", async () => {
    const d = folder();
    writeFileSync(join(d, "bad.db"), "not sqlite at all, and long enough to have a header");
    const scenario = join(d, "s.json");
    // A run of this scenario would take hours (a billion packets), so a store checked after the run
    // ends the test by its time limit instead of passing it; no wall-clock bound is needed.
    writeFileSync(scenario, JSON.stringify({ seed: 1, duration: "10000000s", hosts: [{ name: "a" }, { name: "b" }], workloads: [{ type: "traffic", from: "a", to: "b", rate: "1Mbit", packet: "1000" }] }));
    const sim = await testbedIn(d, "sim", scenario, "--db", "bad.db");
    expectOneLineError(sim, 1, /^testbed: bad\.db: not a testbed database/);
    const plan = await testbedIn(d, "plan", "monitor", "--nodes", "100000", "--days", "30", "--db", "bad.db");
    expectOneLineError(plan, 1, /^testbed: bad\.db: not a testbed database/);
    // Nothing of either run was printed: refused before it began.
    expect(sim.stdout).toBe("");
    expect(plan.stdout).toBe("");
  });

  it("a second monitor on a store is refused in one line naming the first's process", async () => {
    const d = folder();
    writeFileSync(join(d, "nodes"), "node1\nnode2\n");
    const first = startTestbed(d, "monitor", "--nodes", "nodes", "--test", "true", "--db", "m.db", "--for", "60", "--load-max", "1000");
    try {
      await first.waitFor(/node2: (pass|fail)/);
      const second = await testbedIn(d, "monitor", "--nodes", "nodes", "--test", "true", "--once", "--db", "m.db", "--load-max", "1000");
      expectOneLineError(second, 1, new RegExp(`^testbed: m\\.db: another monitor is writing to this store: pid ${first.child.pid} on `));
    } finally {
      first.child.kill("SIGTERM");
    }
    expect((await first.exited).code).toBe(0);
    // Once the first has stopped, the store is free again.
    expect((await testbedIn(d, "monitor", "--nodes", "nodes", "--test", "true", "--for", "1", "--db", "m.db", "--load-max", "1000")).code).toBe(0);
  });
});

describe("outputs of other commands", () => {
  it("plan frisbee --svg DIR is refused before any row runs, in one line", async () => {
    const d = folder();
    mkdirSync(join(d, "charts"));
    expectOneLineError(await testbedIn(d, "plan", "frisbee", "--clients", "1", "--svg", "charts", "--no-store"), 2, /^testbed: charts: the chart is a directory; give a file name$/);
  });

  it("plan swap --svg DIR is refused before any row runs (a 100,000-node plan would run for minutes first)", async () => {
    const d = folder();
    mkdirSync(join(d, "charts"));
    expectOneLineError(await testbedIn(d, "plan", "swap", "--nodes", "100000", "--delta-pct", "1,5,10", "--svg", "charts"), 2, /^testbed: charts: the chart is a directory; give a file name$/);
  });

  it("syncserver --file DIR is refused in one line, and reads the store without creating one", async () => {
    const d = folder();
    mkdirSync(join(d, "boot"));
    expect((await testbedIn(d, "experiment", "create", "e1", "--nodes", "n0=10.0.0.1", "--db", "x.db")).code).toBe(0);
    expectOneLineError(await testbedIn(d, "syncserver", "e1", "n0", "--file", "boot", "--db", "x.db"), 2, /^testbed: boot: the syncserver file is a directory/);
    expectOneLineError(await testbedIn(d, "syncserver", "e1", "n0", "--db", "typo.db"), 1, /^testbed: typo\.db: no such store file/);
    expect(existsSync(join(d, "typo.db"))).toBe(false);
    expect((await testbedIn(d, "syncserver", "e1", "n0", "--file", "boot/syncserver", "--db", "x.db")).code).toBe(0);
    expect(readFileSync(join(d, "boot/syncserver"), "utf8")).toBe("10.0.0.1\n");
  });

  it("bench frisbee with a bad --bandwidth or a missing --dir: one line, exit 2", async () => {
    const d = folder();
    expectOneLineError(await testbedIn(d, "bench", "frisbee", "--bandwidth", "fast"), 2, /^testbed: --bandwidth: expected a rate/);
    expectOneLineError(await testbedIn(d, "bench", "frisbee", "--size-mib", "1", "--dir", "MISSING/x"), 2, /^testbed: MISSING\/x: cannot put scratch files there \(no such folder\)$/);
    expectOneLineError(await testbedIn(d, "bench", "image", "--size-mib", "1", "--dir", "MISSING/x"), 2, /^testbed: MISSING\/x: cannot put scratch files there \(no such folder\)$/);
    expect(readdirSync(d)).toEqual([]);
  });
});

describe("an image cut short mid-chunk (a copy that stopped part way)", () => {
  it("every reader refuses it naming the chunk's own start, how much of it there is, and where the rest is missing from", async () => {
    const d = folder();
    // Two chunks; the cut is inside chunk 1, which starts at image byte 1048576.
    writeFileSync(join(d, "cut.ndz"), readFileSync(join(ROOT, "test/fixtures/emulab/disk-4mib.ndz")).subarray(0, 1_500_000));
    writeFileSync(join(d, "disk.raw"), Buffer.alloc(4 * MIB));
    const before = snapshot(d);
    const said = /^testbed: cut\.ndz: chunk 1 at image byte 1048576: cut short: 451424 of its 1048576 bytes, the 597152 from image byte 1500000 on are missing$/;
    for (const args of [["image", "info", "cut.ndz"], ["image", "unzip", "cut.ndz", "x.raw"], ["image", "sig", "cut.ndz", "-o", "x.sig"], ["image", "delta", "--base", "cut.ndz", "disk.raw", "d.ndz"], ["frisbeed", "--image", "cut.ndz", "-m", "239.199.1.1", "-p", "7901"]]) {
      expectOneLineError(await testbedIn(d, ...args), 2, said);
    }
    expect(snapshot(d)).toEqual(before);
  });
});
