import { describe, type Reader } from "./reader.js";

/**
 * Host selectors in scenario files: an exact name ("server"), a glob ("client*", "*"), a range
 * ("client[0-49]"), or a list of these. Results keep the order hosts were declared in.
 */
export function selectHosts(reader: Reader, hostNames: readonly string[]): number[] {
  const patterns = Array.isArray(reader.value) ? reader.items().map((r) => r.string()) : [reader.string()];
  if (patterns.length === 0) reader.fail("expected at least one host selector");
  const chosen = new Uint8Array(hostNames.length);
  for (const pattern of patterns) {
    const matcher = compile(pattern, reader);
    let matched = 0;
    hostNames.forEach((name, i) => {
      if (matcher(name)) {
        chosen[i] = 1;
        matched++;
      }
    });
    if (matched === 0) reader.fail(`"${pattern}" matches no host`);
  }
  const ids: number[] = [];
  chosen.forEach((bit, i) => {
    if (bit === 1) ids.push(i);
  });
  return ids;
}

function compile(pattern: string, reader: Reader): (name: string) => boolean {
  const range = /^([A-Za-z0-9_.-]*)\[(\d+)-(\d+)\]$/.exec(pattern);
  if (range !== null) {
    const prefix = range[1] as string;
    const lo = Number(range[2]);
    const hi = Number(range[3]);
    if (lo > hi) reader.fail(`"${pattern}": range start ${lo} is after its end ${hi}`);
    return (name) => {
      if (!name.startsWith(prefix)) return false;
      const rest = name.slice(prefix.length);
      if (!/^\d+$/.test(rest)) return false;
      const n = Number(rest);
      return n >= lo && n <= hi;
    };
  }
  if (!/^[A-Za-z0-9_.*-]+$/.test(pattern)) {
    reader.fail(`${describe(pattern)} is not a host selector (use a name, a glob like "client*" or a range like "client[0-9]")`);
  }
  if (!pattern.includes("*")) return (name) => name === pattern;
  const regex = new RegExp(`^${pattern.replace(/[.]/g, "\\.").replace(/\*/g, ".*")}$`);
  return (name) => regex.test(name);
}
