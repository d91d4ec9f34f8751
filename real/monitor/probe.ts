import { spawn } from "node:child_process";
import { connect } from "node:net";

/** How a node is tested: a shell command with `{node}` in it, or a TCP connect to a port. */
export type TestSpec = { readonly kind: "command"; readonly template: string } | { readonly kind: "tcp"; readonly port: number };

/** A test under way; `stop` kills it (its result is then never reported). */
export interface RunningTest {
  stop(): void;
}

/** A test's result: `reason` says why it failed (exit code and last stderr line, ECONNREFUSED, ...). */
export type TestDone = (passed: boolean, reason?: string) => void;

/** The most of a test command's stderr kept, for its last line. */
const STDERR_TAIL_BYTES = 4096;
/** How long after a command exits its stderr may still be read (a child it left may hold the pipe open). */
const STDERR_DRAIN_MS = 100;

/**
 * `tcp:PORT` exactly (lower case, no spaces, a port from 1 to 65535) is a TCP probe. Anything close
 * to it (`TCP:22`, `tcp:abc`, `tcp: 22`, ` tcp:22`) is refused rather than run as a shell command,
 * which would fail on every node and send them all to the bad pool.
 */
export function parseTestSpec(text: string): TestSpec | string {
  const tcp = /^tcp:([1-9]\d{0,4})$/.exec(text);
  if (tcp !== null) {
    const port = Number(tcp[1]);
    return port <= 65_535 ? { kind: "tcp", port } : `--test tcp:PORT: expected a port from 1 to 65535, got ${port}`;
  }
  if (/^\s*tcp\s*:/i.test(text)) {
    return `--test: "${text}" looks like a TCP probe but is not one: write tcp:PORT (lower case, no spaces, a port from 1 to 65535)`;
  }
  if (text.trim() === "") return "--test: expected a command like 'ping -c1 {node}' or tcp:PORT";
  return { kind: "command", template: text };
}

/** Runs one test of `node`; `done` is called once, unless the test is stopped first. */
export function startTest(spec: TestSpec, node: string, done: TestDone): RunningTest {
  return spec.kind === "tcp" ? tcpProbe(node, spec.port, done) : commandTest(spec.template, node, done);
}

/**
 * The command runs under `sh -c` in its own process group, so stopping it at the timeout kills
 * whatever it started too (a hung ssh, a sleep). Exit status 0 passes; a failure carries the exit
 * status (or signal) and the last line the command wrote to stderr.
 */
function commandTest(template: string, node: string, done: TestDone): RunningTest {
  let finished = false;
  let stderr = "";
  const finish = (passed: boolean, reason?: string): void => {
    if (finished) return;
    finished = true;
    done(passed, reason);
  };
  const child = spawn("/bin/sh", ["-c", template.replaceAll("{node}", node)], {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, TESTBED_NODE: node },
  });
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString("utf8")).slice(-STDERR_TAIL_BYTES);
  });
  child.on("error", (error) => finish(false, `cannot run /bin/sh: ${error.message}`));
  child.on("exit", (code, signal) => {
    const report = (): void => {
      const last = stderr.trimEnd().split("\n").pop()?.trim() ?? "";
      const how = code !== null ? `exit ${code}` : `killed by ${signal ?? "a signal"}`;
      finish(code === 0, code === 0 ? undefined : last === "" ? how : `${how}: ${last.slice(0, 200)}`);
    };
    if (child.stderr === null || child.stderr.readableEnded) return report();
    const drained = setTimeout(report, STDERR_DRAIN_MS);
    child.stderr.once("end", () => {
      clearTimeout(drained);
      report();
    });
  });
  return {
    stop() {
      finished = true;
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      }
      child.stderr?.destroy();
    },
  };
}

/** Why a connect failed, in words, with the system's code. */
function connectReason(error: NodeJS.ErrnoException, node: string, port: number): string {
  const words: Record<string, string> = {
    ECONNREFUSED: `connection refused on port ${port}`,
    ENOTFOUND: `name ${node} not found`,
    EAI_AGAIN: `name ${node} could not be looked up now`,
    ETIMEDOUT: "connect timed out",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ECONNRESET: "connection reset",
  };
  const code = error.code ?? "";
  return `${words[code] ?? error.message}${code === "" ? "" : ` (${code})`}`;
}

function tcpProbe(node: string, port: number, done: TestDone): RunningTest {
  let finished = false;
  const socket = connect({ host: node, port });
  const finish = (passed: boolean, reason?: string): void => {
    socket.destroy();
    if (finished) return;
    finished = true;
    done(passed, reason);
  };
  socket.once("connect", () => finish(true));
  socket.once("error", (error: NodeJS.ErrnoException) => finish(false, connectReason(error, node, port)));
  return {
    stop() {
      finished = true;
      socket.destroy();
    },
  };
}
