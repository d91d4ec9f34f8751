import { spawn } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tar from "tar";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startAgent, type RunningAgent } from "../../real/agent/daemon.js";
import { createImage, nodeEngine, writeDiskLikeFile } from "../../real/image/index.js";
import { openExperimentStore } from "../../real/store/index.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";
import { CLI, ROOT, snapshot, type Ran } from "./support.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

/*
 * The command-line fuzz matrix: every command, given bad arguments and bad files (missing, a
 * directory, empty, random bytes, read-only, the output equal to the input), must answer with one
 * line on stderr, the documented exit code and no stack trace, and leave every file as it was,
 * with nothing new beside them. Each case runs in a fresh copy of one folder of fixtures; cases
 * run a few at a time, since each is a process.
 */

const root = mkdtempSync(join(tmpdir(), "testbed-matrix-"));
const template = join(root, "template");
/** A live agent (ephemeral port), for the service commands that must reach one before failing. */
let agent: RunningAgent | null = null;
afterAll(async () => {
  await agent?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Seeded bytes, so a failure replays with the same "random" file. */
function seededBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

beforeAll(async () => {
  mkdirSync(template);
  const at = (name: string): string => join(template, name);
  await writeDiskLikeFile(at("disk.raw"), 1 << 20, 7);
  await createImage(at("disk.raw"), at("s.ndz"), { level: 1, granularityBytes: 4096, skipFree: true, engine: nodeEngine, layout: "sequential", jobs: 1 });
  writeFileSync(at("scenario.json"), JSON.stringify({ seed: 1, duration: "1s", hosts: [{ name: "a" }, { name: "b" }], workloads: [{ type: "traffic", from: "a", to: "b", rate: "1Mbit", packet: "1000" }] }));
  writeFileSync(at("nodes.txt"), "a\n");
  writeFileSync(at("key"), "0123456789abcdef0123456789abcdef\n");
  agent = await startAgent({ host: "127.0.0.1", port: 0, key: Buffer.from("0123456789abcdef0123456789abcdef"), dir: join(root, "agent"), node: "n0", log: () => {} });
  writeFileSync(at("agents.txt"), `n0 127.0.0.1:${agent.port}\n`);
  // A service whose node nobody serves: a command that asked it first would print its failures before the store's.
  writeFileSync(at("dead.txt"), "n0 127.0.0.1:1\n");
  mkdirSync(at("svc"));
  writeFileSync(at("svc/run.sh"), "exec sleep 1000\n");
  await tar.c({ file: at("v1.tar"), cwd: at("svc"), portable: true }, ["run.sh"]);
  rmSync(at("svc"), { recursive: true });
  writeFileSync(
    at("svc.json"),
    JSON.stringify({ name: "cdn", experiment: "e1", ports: "41000-41009", processes: [{ name: "server", command: ["sh", "run.sh"] }], nodeSets: [{ name: "all", nodes: "*", tarballs: [{ file: "v1.tar" }] }], checksum: ["run.sh"] }),
  );
  const store = openExperimentStore(at("ok.db"));
  store.createExperiment("e1", [{ node: "n0", host: "10.0.0.1" }]);
  store.close();
  // A base image of two chunks, its disk and its signature, for the delta commands.
  cpSync(join(ROOT, "test/fixtures/emulab/disk-4mib.ndz"), at("base.ndz"));
  // base.raw's delta against its own image is empty: one chunk header, nothing for frisbeed to send.
  for (const args of [["image", "unzip", "base.ndz", "base.raw"], ["image", "sig", "base.ndz", "-o", "base.sig"], ["image", "delta", "--base", "base.ndz", "base.raw", "nochange.ndz"]]) {
    const r = await runTestbed(args, { cwd: template });
    if (r.code !== 0) throw new Error(`fixture: testbed ${args.join(" ")}: ${r.stderr}`);
  }
  // An image cut short mid-chunk (a copy that stopped part way): every reader must refuse it.
  const image = readFileSync(at("base.ndz"));
  writeFileSync(at("cut.ndz"), image.subarray(0, Math.floor(image.length * 0.75)));
  mkdirSync(at("dir"));
  writeFileSync(at("empty"), "");
  writeFileSync(at("random.bin"), seededBytes(4096, 19));
  writeFileSync(at("odd.bin"), seededBytes(1000, 23));
  writeFileSync(at("text.txt"), "hello, I am not what you think\n");
  writeFileSync(at("ro.txt"), "the user's read-only file\n");
  chmodSync(at("ro.txt"), 0o444);
}, 120_000);

interface Case {
  args: string[];
  /** The documented exit code. */
  code: number;
}

const G = ["-m", "239.199.1.1", "-p", "7901"];
/** Input files that are not what they should be. */
const BAD_INPUTS = ["missing", "dir", "empty", "random.bin"];
/** Store files that are not stores. */
const BAD_STORES = ["dir", "empty", "random.bin", "text.txt"];
/** Outputs that must be refused: a directory, a write-protected file, a missing folder. */
const BAD_OUTPUTS = ["dir", "ro.txt", "nofolder/out"];

const each = (names: readonly string[], args: (name: string) => string[], code: number): Case[] => names.map((n) => ({ args: args(n), code }));

/** The matrix, by command family. */
const FAMILIES: Record<string, Case[]> = {
  "testbed itself": [
    { args: ["nosuch"], code: 2 },
    { args: ["--bogus"], code: 2 },
    { args: ["sim"], code: 2 },
  ],
  sim: [
    ...each(BAD_INPUTS, (f) => ["sim", f], 2),
    ...each(BAD_STORES, (f) => ["sim", "scenario.json", "--db", f], 1),
    { args: ["sim", "scenario.json", "--seed", "x"], code: 2 },
    { args: ["sim", "ro.txt"], code: 2 },
  ],
  plan: [
    ...each(BAD_OUTPUTS, (f) => ["plan", "frisbee", "--clients", "1", "--svg", f, "--no-store"], 2),
    // The chart may not be written over the store the rows go to.
    { args: ["plan", "frisbee", "--clients", "1", "--svg", "ok.db", "--db", "ok.db"], code: 2 },
    { args: ["plan", "service", "--nodes", "10", "--days", "1", "--svg", "ok.db", "--db", "ok.db"], code: 2 },
    ...each(BAD_STORES, (f) => ["plan", "frisbee", "--clients", "1", "--db", f], 1),
    { args: ["plan", "frisbee", "--clients", "0"], code: 2 },
    { args: ["plan", "frisbee", "--loss", "2"], code: 2 },
    ...each(BAD_STORES, (f) => ["plan", "monitor", "--nodes", "100", "--db", f], 1),
    { args: ["plan", "monitor", "--nodes", "0"], code: 2 },
    ...each(["dir", "ro.txt"], (f) => ["plan", "service", "--nodes", "10", "--days", "1", "--svg", f, "--no-store"], 2),
    ...each(["dir", "empty"], (f) => ["plan", "service", "--nodes", "10", "--days", "1", "--db", f], 1),
  ],
  "runs and the experiment store": [
    ...each(["missing", ...BAD_STORES], (f) => ["runs", "--db", f], 1),
    { args: ["runs", "--limit", "0", "--db", "ok.db"], code: 2 },
    ...each(["missing", ...BAD_STORES], (f) => ["exp", "list", "--db", f], 1),
    ...each(["missing", "dir", "empty"], (f) => ["exp", "show", "e1", "--db", f], 1),
    ...each(["missing", "dir", "random.bin"], (f) => ["sitevar", "--db", f], 1),
    // A refused name or value is refused before the store opens: a --db naming no store stays absent.
    { args: ["sitevar", "NOSUCH", "5", "--db", "new.db"], code: 2 },
    { args: ["sitevar", "NOSUCH", "--db", "new.db"], code: 2 },
    { args: ["sitevar", "--unset", "NOSUCH", "--db", "new.db"], code: 2 },
    { args: ["sitevar", "images/frisbee/heartbeat", "abc", "--db", "new.db"], code: 2 },
    { args: ["sitevar", "images/frisbee/heartbeat", "5", "--db", "dir"], code: 1 },
    ...each(BAD_INPUTS, (f) => ["exp", "create", f, "--db", "new.db"], 2),
    ...[["bad/name", "--nodes", "n0"], ["e2", "--nodes", "n0,n0"], ["e2", "--nodes", "n0", "--sync-server", "n9"], ["e2", "--nodes", "n0="]].map((a) => ({ args: ["exp", "create", ...a, "--db", "new.db"], code: 2 })),
    ...each(BAD_INPUTS, (f) => ["exp", "create", f, "--db", "ok.db"], 2),
    ...each(["missing", "dir", "empty"], (f) => ["syncserver", "e1", "n0", "--db", f], 1),
    ...each(["dir", "ro.txt", "ok.db"], (f) => ["syncserver", "e1", "n0", "--file", f, "--db", "ok.db"], 2),
  ],
  image: [
    // Random bytes of whole sectors are a fine disk; a size that is not whole sectors is not.
    ...each(["missing", "dir", "empty", "odd.bin"], (f) => ["image", "create", f, "x.ndz"], 2),
    ...each([...BAD_OUTPUTS, "disk.raw"], (f) => ["image", "create", "disk.raw", f], 2),
    { args: ["image", "create", "disk.raw", "x.ndz", "-z", "10"], code: 2 },
    ...each([...BAD_INPUTS, "disk.raw", "cut.ndz"], (f) => ["image", "info", f], 2),
    ...each([...BAD_INPUTS, "cut.ndz"], (f) => ["image", "unzip", f, "x.raw"], 2),
    ...each([...BAD_OUTPUTS, "s.ndz"], (f) => ["image", "unzip", "s.ndz", f], 2),
    { args: ["image", "unzip", "s.ndz", "missing", "--fixed-size"], code: 2 },
    ...each(["missing", "text.txt"], (f) => ["bench", "image", "--size-mib", "1", "--dir", f], 2),
  ],
  "disk state: signatures, deltas, swaps of one node": [
    ...each([...BAD_INPUTS, "disk.raw", "cut.ndz"], (f) => ["image", "sig", f, "-o", "x.sig"], 2),
    ...each([...BAD_OUTPUTS, "base.ndz"], (f) => ["image", "sig", "base.ndz", "-o", f], 2),
    ...each([...BAD_INPUTS, "cut.ndz"], (f) => ["image", "delta", "--base", f, "base.raw", "d.ndz"], 2),
    ...each(BAD_INPUTS, (f) => ["image", "delta", "--base", "base.sig", f, "d.ndz"], 2),
    // Never over an input, and never over the base image, which only the signature names.
    ...each([...BAD_OUTPUTS, "base.raw", "base.sig", "base.ndz"], (f) => ["image", "delta", "--base", "base.sig", "base.raw", f], 2),
    ...each([...BAD_INPUTS, "cut.ndz"], (f) => ["image", "unzip", "base.ndz", f, "x.raw"], 2),
    ...each(["missing", ...BAD_STORES], (f) => ["image", "gc", "--db", f], 1),
    ...each(["missing", ...BAD_STORES], (f) => ["swapout-node", "--node", "n0", "--disk", "base.raw", "--db", f], 1),
    ...each(["missing", ...BAD_STORES], (f) => ["swapin-node", "--node", "n0", "--target", "x.raw", "--db", f], 1),
    ...each([...BAD_INPUTS, "cut.ndz"], (f) => ["swapin-node", "--node", "n0", "--target", "x.raw", "--image", f, "--db", "new.db"], 2),
    ...each(BAD_OUTPUTS, (f) => ["plan", "swap", "--nodes", "10", "--delta-pct", "5", "--svg", f], 2),
    { args: ["plan", "swap", "--nodes", "10", "--delta-pct", "5", "--queue", "bogus"], code: 2 },
    ...each(["missing", "text.txt"], (f) => ["bench", "delta", "--size-mib", "1", "--rewrite-mib", "1", "--dir", f], 2),
  ],
  frisbee: [
    // frisbeed checks its image before serving: a raw disk or a cut image is refused, not served.
    ...each([...BAD_INPUTS, "disk.raw", "cut.ndz", "nochange.ndz"], (f) => ["frisbeed", "--image", f, ...G], 2),
    ...each(["dir", "empty", "random.bin"], (f) => ["frisbeed", "--image", "s.ndz", ...G, "--db", f], 1),
    { args: ["frisbeed", "--image", "s.ndz", "-m", "10.0.0.1", "-p", "7901"], code: 2 },
    { args: ["frisbeed", "--image", "s.ndz", ...G, "-i", "nowhere"], code: 2 },
    ...each(BAD_OUTPUTS, (f) => ["frisbee", ...G, f], 2),
    { args: ["frisbee", ...G, "--fixed-size", "missing"], code: 2 },
    { args: ["frisbee", "-m", "239.1.2.3.4", "-p", "7901", "x.raw"], code: 2 },
    ...each(["missing", "text.txt"], (f) => ["bench", "frisbee", "--size-mib", "1", "--dir", f], 2),
    { args: ["bench", "frisbee", "--bandwidth", "fast"], code: 2 },
  ],
  monitor: [
    ...each(BAD_INPUTS, (f) => ["monitor", "--nodes", f, "--test", "true", "--once"], 2),
    ...each(BAD_STORES, (f) => ["monitor", "--nodes", "nodes.txt", "--test", "true", "--once", "--db", f], 1),
    ...each(["TCP:22", "tcp:abc", "tcp: 22"], (t) => ["monitor", "--nodes", "nodes.txt", "--test", t, "--once"], 2),
  ],
  sync: [
    ...each(BAD_INPUTS, (f) => ["sync", "--syncserver-file", f], 64),
    { args: ["sync", "-i", "-1", "-s", "localhost"], code: 64 },
    ...each(["dir", "empty", "random.bin"], (f) => ["syncd", "-p", "0", "--db", f], 1),
    { args: ["syncd", "-p", "70000"], code: 2 },
    { args: ["bench", "sync", "--waiters", "0"], code: 2 },
  ],
  "experiments: swaps and the demo": [
    // A swap needs a recorded experiment: a store that is missing or not a store is refused, never created.
    ...each(["missing", ...BAD_STORES], (f) => ["exp", "swapin", "e1", "--sim", "--db", f], 1),
    ...each(["missing", ...BAD_STORES], (f) => ["exp", "swapout", "e1", "--sim", "--db", f], 1),
    ...each(["missing", ...BAD_STORES], (f) => ["exp", "delete", "e1", "--db", f], 1),
    ...each(["missing", ...BAD_STORES], (f) => ["exp", "set-sync-server", "e1", "n0", "--db", f], 1),
    ...each(BAD_STORES, (f) => ["exp", "demo", "--nodes", "10", "--db", f], 1),
    // The portal shows what is stored: it never creates a store, nor turns a file into one.
    ...each(["missing", ...BAD_STORES], (f) => ["serve", "--port", "0", "--db", f], 1),
    { args: ["serve", "--port", "x", "--db", "ok.db"], code: 2 },
    { args: ["exp", "swapin", "nosuch", "--sim", "--db", "ok.db"], code: 2 },
    { args: ["exp", "swapin", "e1", "--sim", "--seed", "x", "--db", "ok.db"], code: 2 },
    { args: ["exp", "demo", "--nodes", "0", "--db", "ok.db"], code: 2 },
    { args: ["exp", "template", "--nodes", "x"], code: 2 },
  ],
  sweeps: [
    // The report is checked before any seed runs: never over an input, a folder or a protected file.
    ...each([...BAD_OUTPUTS, "scenario.json"], (f) => ["sweep", "run", "scenario.json", "--seeds", "1..2", "--out", f, "--no-store"], 2),
    ...each(BAD_INPUTS, (f) => ["sweep", "run", f, "--seeds", "1..2", "--no-store"], 2),
    ...each(BAD_STORES, (f) => ["sweep", "run", "scenario.json", "--seeds", "1..2", "--db", f], 1),
    { args: ["sweep", "run", "scenario.json", "--seeds", "x", "--no-store"], code: 2 },
    { args: ["sweep", "run", "scenario.json", "--seeds", "1..2", "--queue", "bogus", "--no-store"], code: 2 },
    ...each(BAD_INPUTS, (f) => ["sweep", "merge", f, "--no-store"], 2),
    // A plan's shard file is checked before any cell runs; a bad slice is refused.
    ...each(BAD_OUTPUTS, (f) => ["plan", "swap", "--nodes", "10", "--delta-pct", "5", "--shard", "1/2", "--out", f], 2),
    { args: ["plan", "swap", "--nodes", "10", "--delta-pct", "5", "--shard", "3/2", "--out", "s.json"], code: 2 },
    { args: ["plan", "swap", "--nodes", "10", "--delta-pct", "5", "--shard", "1/2"], code: 2 },
    // A plan the model cannot run is refused before any shard's cell runs.
    { args: ["plan", "swap", "--nodes", "10", "--delta-pct", "5", "--node-mbps", "1", "--shard", "1/2", "--out", "s.json"], code: 2 },
    { args: ["plan", "monitor", "--nodes", "10", "--shard", "1/2", "--no-store"], code: 2 },
    { args: ["worker", "--queue", "bogus"], code: 2 },
    { args: ["worker", "--queue", "redis://127.0.0.1:1", "--grace-ms", "-5"], code: 2 },
    { args: ["bench", "sweep", "--seeds", "x"], code: 2 },
  ],
  services: [
    ...each(["missing", "dir", "empty"], (f) => ["agent", "--key", f], 2),
    ...each(["missing", "dir", "empty"], (f) => ["service", "status", "--nodes", f, "--key", "key", "--service", "missing"], 2),
    { args: ["bench", "service", "--agents", "0"], code: 2 },
    // The log folder is checked before the agents are asked: never a file (an input included), never under a missing folder.
    ...each(["text.txt", "key", "agents.txt", "ro.txt", "nofolder/out"], (f) => ["service", "logs", "--nodes", "agents.txt", "--key", "key", "--out", f], 2),
    // The store is checked before any agent is asked: a bad --db costs no rollout, deploy or sweep round.
    ...each(BAD_STORES, (f) => ["service", "rollout", "--nodes", "dead.txt", "--key", "key", "--service", "svc.json", "--release", "v1", "--db", f], 1),
    ...each(BAD_STORES, (f) => ["service", "deploy", "--nodes", "dead.txt", "--key", "key", "--service", "svc.json", "--release", "v1", "--db", f], 1),
    ...each(["dir", "text.txt"], (f) => ["service", "status", "--nodes", "dead.txt", "--key", "key", "--db", f], 1),
    ...each(["dir", "text.txt"], (f) => ["service", "checksum", "--nodes", "dead.txt", "--key", "key", "--service", "svc.json", "--db", f], 1),
    ...each(["dir", "text.txt"], (f) => ["service", "sweep", "--nodes", "dead.txt", "--key", "key", "--rounds", "1", "--db", f], 1),
    { args: ["service", "rollout", "--nodes", "dead.txt", "--key", "key", "--service", "svc.json", "--release", "bad/version"], code: 2 },
  ],
};

/** Runs a case in a fresh copy of the fixtures and checks it: the code, one line, nothing changed. */
async function runCase(c: Case, n: number): Promise<void> {
  const dir = join(root, `case-${n}`);
  cpSync(template, dir, { recursive: true });
  const before = snapshot(dir);
  const r = await new Promise<Ran>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...c.args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const what = `testbed ${c.args.join(" ")}`;
  const lines = r.stderr.trimEnd().split("\n");
  expect({ code: r.code, lines: lines.length, stderr: r.stderr }, what).toMatchObject({ code: c.code, lines: 1 });
  expect(lines[0], what).toMatch(/^testbed: \S/);
  expect(r.stderr, what).not.toMatch(/\n\s+at |node:internal|Error: /);
  const after = snapshot(dir);
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]);
  expect(changed, `${what}: changed, removed or left files`).toEqual([]);
  rmSync(dir, { recursive: true, force: true });
}

/** Cases at once: processes, mostly waiting on startup. */
const PARALLEL = 4;

describe("the command-line fuzz matrix", () => {
  let serial = 0;
  for (const [family, cases] of Object.entries(FAMILIES)) {
    it(`${family}: every bad argument and bad file gets one line, its exit code, and changes nothing (${cases.length} cases)`, async () => {
      const queue = [...cases];
      const failures: string[] = [];
      const worker = async (): Promise<void> => {
        for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
          try {
            await runCase(c, serial++);
          } catch (error) {
            failures.push((error as Error).message.split("\n").slice(0, 12).join("\n"));
          }
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      expect(failures).toEqual([]);
    });
  }
});
