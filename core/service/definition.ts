/**
 * A service as the controller deploys it: the processes its watchdog guards (the first is the
 * startup program), node state as tarballs with a set per node set (alpha, production; static state
 * that needs a restart, changing state that does not), and a port range of its experiment from
 * which every process takes its ports, so two experiments on one node never collide.
 */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

export interface ProcessSpec {
  readonly name: string;
  /** argv; `{port}` (its first port), `{port1}`..., `{node}` and `{dir}` are substituted. */
  readonly command: readonly string[];
  /** Ports it takes from the range. */
  readonly ports: number;
  /** Liveness check beside "the process is alive": connect to its first port, and/or run a command. */
  readonly checkTcp: boolean;
  readonly checkCommand: readonly string[] | null;
}

export interface TarballSpec {
  readonly name: string;
  /** Putting it in place needs the processes restarted (static state) or not (changing state). */
  readonly restart: boolean;
}

export interface NodeSetSpec {
  readonly name: string;
  readonly nodes: readonly string[];
  readonly tarballs: readonly TarballSpec[];
}

export const PORT_MIN = 1024;
export const PORT_MAX = 65_535;
export const PROCESS_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

export function checkPortRange(r: PortRange): string | null {
  const ok = Number.isInteger(r.first) && Number.isInteger(r.last) && r.first >= PORT_MIN && r.last <= PORT_MAX && r.first <= r.last;
  return ok ? null : `expected ports FIRST-LAST within ${PORT_MIN}-${PORT_MAX}, got ${r.first}-${r.last}`;
}

/** "20000-20099" to a range, or null. */
export function parsePortRange(text: string): PortRange | null {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  if (m === null) return null;
  const r = { first: Number(m[1]), last: Number(m[2]) };
  return checkPortRange(r) === null ? r : null;
}

/** Each process's ports, taken in order from the range; a string if the range is too small. */
export function assignPorts(range: PortRange, processes: readonly Pick<ProcessSpec, "name" | "ports">[]): number[][] | string {
  const out: number[][] = [];
  let next = range.first;
  for (const p of processes) {
    if (next + p.ports - 1 > range.last) return `the port range ${range.first}-${range.last} holds ${range.last - range.first + 1} ports, too few for process "${p.name}" and those before it`;
    out.push(Array.from({ length: p.ports }, (_, i) => next + i));
    next += p.ports;
  }
  return out;
}

/** Substitutes {port}, {portN}, {node} and {dir} in a command; other braces are left as they are. */
export function substitute(command: readonly string[], values: { ports: readonly number[]; node: string; dir: string }): string[] {
  return command.map((arg) =>
    arg.replace(/\{(port(\d*)|node|dir)\}/g, (whole, key: string, index: string) => {
      if (key === "node") return values.node;
      if (key === "dir") return values.dir;
      // "{port}" is "{port0}": Number("") is 0.
      const port = values.ports[Number(index)];
      return port === undefined ? whole : String(port);
    }),
  );
}
