import { spawn } from "node:child_process";
import { connect } from "node:net";

/** How a node is tested: a shell command with `{node}` in it, or a TCP connect to a port. */
export type TestSpec = { readonly kind: "command"; readonly template: string } | { readonly kind: "tcp"; readonly port: number };

/** A test under way; `stop` kills it (its result is then never reported). */
export interface RunningTest {
  stop(): void;
}

export function parseTestSpec(text: string): TestSpec | string {
  const tcp = /^tcp:(\d{1,5})$/.exec(text.trim());
  if (tcp !== null) {
    const port = Number(tcp[1]);
    return port >= 1 && port <= 65_535 ? { kind: "tcp", port } : `--test tcp:PORT: expected a port from 1 to 65535, got ${port}`;
  }
  if (text.trim() === "") return "--test: expected a command like 'ping -c1 {node}' or tcp:PORT";
  return { kind: "command", template: text };
}

/** Runs one test of `node`; `done(passed)` is called once, unless the test is stopped first. */
export function startTest(spec: TestSpec, node: string, done: (passed: boolean) => void): RunningTest {
  return spec.kind === "tcp" ? tcpProbe(node, spec.port, done) : commandTest(spec.template, node, done);
}

/**
 * The command runs under `sh -c` in its own process group, so stopping it at the timeout kills
 * whatever it started too (a hung ssh, a sleep). Exit status 0 passes.
 */
function commandTest(template: string, node: string, done: (passed: boolean) => void): RunningTest {
  let finished = false;
  const finish = (passed: boolean): void => {
    if (finished) return;
    finished = true;
    done(passed);
  };
  const child = spawn("/bin/sh", ["-c", template.replaceAll("{node}", node)], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, TESTBED_NODE: node },
  });
  child.on("error", () => finish(false));
  child.on("exit", (code) => finish(code === 0));
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
    },
  };
}

function tcpProbe(node: string, port: number, done: (passed: boolean) => void): RunningTest {
  let finished = false;
  const socket = connect({ host: node, port });
  const finish = (passed: boolean): void => {
    socket.destroy();
    if (finished) return;
    finished = true;
    done(passed);
  };
  socket.once("connect", () => finish(true));
  socket.once("error", () => finish(false));
  return {
    stop() {
      finished = true;
      socket.destroy();
    },
  };
}
