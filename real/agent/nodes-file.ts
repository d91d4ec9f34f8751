import { readUserText } from "../runtime/read-file.js";
import { NODE_NAME_PATTERN } from "../monitor/nodes-file.js";

/** A node file the controller cannot use; one line naming the file and line. */
export class NodeFileError extends Error {
  override readonly name = "NodeFileError";
}

export interface AgentAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export const NODE_FILE_NODES_MAX = 100_000;

/** Reads `NAME HOST:PORT` lines; blank lines and `#` comments are ignored. */
export function readNodeFile(path: string): AgentAddress[] {
  return parseNodeFile(path, readUserText(path, "node file", (m) => new NodeFileError(m)));
}

export function parseNodeFile(path: string, text: string): AgentAddress[] {
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  const out: AgentAddress[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const where = `${path}:${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new NodeFileError(`${where}: expected "NAME HOST:PORT", got ${JSON.stringify(line).slice(0, 80)}`);
    const [name, address] = parts as [string, string];
    if (!NODE_NAME_PATTERN.test(name)) throw new NodeFileError(`${where}: bad node name ${JSON.stringify(name).slice(0, 80)} (letters, digits, . _ : - only)`);
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
    const port = m === null ? NaN : Number(m[2]);
    if (m === null || !(port >= 1 && port <= 65_535)) throw new NodeFileError(`${where}: expected HOST:PORT with a port from 1 to 65535, got ${JSON.stringify(address).slice(0, 80)}`);
    const firstName = names.get(name);
    if (firstName !== undefined) throw new NodeFileError(`${where}: node ${name} is listed twice (first on line ${firstName})`);
    const firstAddress = addresses.get(address);
    if (firstAddress !== undefined) throw new NodeFileError(`${where}: ${address} is listed twice (first on line ${firstAddress})`);
    names.set(name, i + 1);
    addresses.set(address, i + 1);
    out.push({ name, host: (m[1] as string).replace(/^\[|\]$/g, ""), port });
    if (out.length > NODE_FILE_NODES_MAX) throw new NodeFileError(`${where}: more than ${NODE_FILE_NODES_MAX} nodes`);
  });
  if (out.length === 0) throw new NodeFileError(`${path}: the node file names no node`);
  return out;
}
