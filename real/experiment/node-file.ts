import { isAbsolute, join } from "node:path";
import { NODE_NAME_PATTERN } from "../monitor/nodes-file.js";
import { readUserText } from "../runtime/read-file.js";
import type { RealNode } from "./testbed.js";
import { NodeFileError } from "./node-file-error.js";

export { NodeFileError };

export const NODE_FILE_NODES_MAX = 100_000;
const ADDRESS_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The real machines an experiment's nodes stand on: one per line, `name address [folder]`, where
 * the address is the IPv4 address the node connects from (the node-configuration server knows it
 * by that) and the folder holds its disks on that machine (default: a folder per node under
 * `defaultDir`). Blank lines and `#` comments are ignored; the first nodes serve the experiment's
 * nodes in order, the rest are spares.
 */
export function readNodeFile(path: string, defaultDir: string): RealNode[] {
  const text = readUserText(path, "node file", (m) => new NodeFileError(m));
  const nodes: RealNode[] = [];
  const seen = new Map<string, number>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const where = `${path}:${i + 1}`;
    const words = line.split(/\s+/);
    const [name, address, dir] = words as [string, string | undefined, string | undefined];
    if (words.length > 3 || address === undefined) throw new NodeFileError(`${where}: expected "name address [folder]", got "${line.slice(0, 80)}"`);
    if (!NODE_NAME_PATTERN.test(name)) throw new NodeFileError(`${where}: bad node name "${name.slice(0, 64)}"`);
    const a = ADDRESS_PATTERN.exec(address);
    if (a === null || a.slice(1).some((o) => Number(o) > 255)) throw new NodeFileError(`${where}: "${address.slice(0, 64)}" is not an IPv4 address`);
    for (const key of [name, address]) {
      const first = seen.get(key);
      if (first !== undefined) throw new NodeFileError(`${where}: "${key}" is listed twice (first on line ${first})`);
      seen.set(key, i + 1);
    }
    nodes.push({ name, address, dir: dir === undefined ? join(defaultDir, name) : isAbsolute(dir) ? dir : join(defaultDir, dir) });
    if (nodes.length > NODE_FILE_NODES_MAX) throw new NodeFileError(`${where}: more than ${NODE_FILE_NODES_MAX} nodes`);
  }
  if (nodes.length === 0) throw new NodeFileError(`${path}: the node file names no node`);
  return nodes;
}
