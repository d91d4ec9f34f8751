import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { ExperimentSpec } from "../../core/experiment/spec.js";
import { ScenarioError } from "../reader.js";
import { EXPERIMENT_FILE_BYTES_MAX, parseExperiment } from "./schema.js";

/** Reads and checks an experiment file; every problem is one ScenarioError line naming the file. */
export function readExperimentFile(path: string): ExperimentSpec {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ScenarioError(`${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : `cannot open (${code ?? (error as Error).message})`}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new ScenarioError(`${path}: is a directory, not an experiment file`);
    if (stat.size > EXPERIMENT_FILE_BYTES_MAX) throw new ScenarioError(`${path}: ${stat.size} bytes is too large for an experiment file (at most ${EXPERIMENT_FILE_BYTES_MAX})`);
    const buffer = Buffer.alloc(Math.min(stat.size, EXPERIMENT_FILE_BYTES_MAX) + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > EXPERIMENT_FILE_BYTES_MAX) throw new ScenarioError(`${path}: too large for an experiment file (at most ${EXPERIMENT_FILE_BYTES_MAX} bytes)`);
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
    let decoded: string;
    try {
      decoded = text.decode(buffer.subarray(0, length));
    } catch {
      throw new ScenarioError(`${path}: not UTF-8 text (an experiment file is JSON)`);
    }
    return parseExperiment(decoded, path);
  } finally {
    closeSync(fd);
  }
}
