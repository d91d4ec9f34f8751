import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
export const CLI = join(ROOT, "dist/bin/testbed.js");

/** A `testbed syncd` child: everything it writes (stdout and stderr) is kept, and waits are on its lines or its exit. */
export interface SyncdProcess {
  child: ChildProcess;
  readonly output: string;
  readonly stderr: string;
  /** 0 when TCP is off. */
  tcpPort: number;
  udpPort: number | null;
  /** Resolves when the output matches; rejects at once, with everything written, if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal's name); at once if it has exited already. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts `testbed syncd -p 0 --host 127.0.0.1 ...args` (optionally under another command, such as prlimit). */
export async function startSyncd(args: string[], options: { cwd: string; wrap?: string[] } = { cwd: ROOT }): Promise<SyncdProcess> {
  const command = [...(options.wrap ?? []), process.execPath, CLI, "syncd", "-p", "0", "--host", "127.0.0.1", ...args];
  const child = spawn(command[0] as string, command.slice(1), { cwd: options.cwd });
  let output = "";
  let stderr = "";
  const changed: (() => void)[] = [];
  const wake = (): void => void changed.splice(0).forEach((f) => f());
  child.stdout!.on("data", (d: Buffer) => ((output += d.toString()), wake()));
  child.stderr!.on("data", (d: Buffer) => ((output += d.toString()), (stderr += d.toString()), wake()));
  let exitedWith: number | string | null = null;
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => {
      exitedWith = code ?? signal ?? "?";
      wake();
      resolve(exitedWith);
    }),
  );
  const waitFor = (pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(output);
        if (m !== null) return resolve(m);
        if (exitedWith !== null) return reject(new Error(`syncd exited (${exitedWith}) before printing ${pattern}; it wrote:\n${output}`));
        changed.push(check);
      };
      check();
    });
  const start = await waitFor(/syncd\.start .*tcp=(\d+|off) udp=(\d+|off)/);
  return {
    child,
    get output() {
      return output;
    },
    get stderr() {
      return stderr;
    },
    tcpPort: start[1] === "off" ? 0 : Number(start[1]),
    udpPort: start[2] === "off" ? null : Number(start[2]),
    waitFor,
    exited,
    stop: (signal = "SIGTERM") => {
      if (exitedWith === null) child.kill(signal);
      return exited;
    },
  };
}

/** How many times `pattern` (global) matches in `text`. */
export function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(pattern)].length;
}
