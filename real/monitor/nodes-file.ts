import { readUserText } from "../runtime/read-file.js";

/** A node list the monitor cannot use; the message is one line naming the file (and line). */
export class NodeListError extends Error {
  override readonly name = "NodeListError";
}

/** Most nodes one list may name. */
export const NODE_LIST_MAX = 1_000_000;
/**
 * Host names, IPv4 and IPv6 addresses (`::1` included): nothing a shell would read as syntax, and
 * no leading `-` a command would take for an option, so `{node}` is safe to substitute.
 */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9:][A-Za-z0-9._:-]{0,252}$/;

/**
 * Reads a node list: one node per line; blank lines and `#` comments are ignored. An unreadable
 * file, a bad name or a node listed twice is refused with its line number.
 */
export function readNodeList(path: string): string[] {
  return parseNodeList(path, readUserText(path, "node list", (m) => new NodeListError(m)));
}

export function parseNodeList(path: string, text: string): string[] {
  const firstLine = new Map<string, number>();
  const names: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const where = `${path}:${i + 1}`;
    if (/\s/.test(line)) throw new NodeListError(`${where}: expected one node name per line, got "${line}"`);
    if (!NODE_NAME_PATTERN.test(line)) throw new NodeListError(`${where}: bad node name "${line}" (letters, digits, . _ : - only)`);
    const first = firstLine.get(line);
    if (first !== undefined) throw new NodeListError(`${where}: duplicate node "${line}" (first on line ${first})`);
    firstLine.set(line, i + 1);
    names.push(line);
    if (names.length > NODE_LIST_MAX) throw new NodeListError(`${where}: more than NODE_LIST_MAX (${NODE_LIST_MAX}) nodes`);
  }
  if (names.length === 0) throw new NodeListError(`${path}: the node list names no node`);
  return names;
}
