/** A scenario file could not be read or is not valid; the message is one line naming file and field. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScenarioError";
  }
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Walks parsed JSON with a path, so every complaint names where it is: `file: a.b[3].c: why`. */
export class Reader {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly value: Json | undefined,
  ) {}

  fail(why: string): never {
    throw new ScenarioError(`${this.file}: ${this.path === "" ? "(top level)" : this.path}: ${why}`);
  }

  get present(): boolean {
    return this.value !== undefined;
  }

  at(key: string): Reader {
    const object = this.object();
    return new Reader(this.file, childPath(this.path, key), object[key]);
  }

  /** The object's fields, refusing any not in `allowed` (with a suggestion for a near miss). */
  fields(allowed: readonly string[]): Reader {
    const object = this.object();
    for (const key of Object.keys(object)) {
      if (allowed.includes(key)) continue;
      const near = nearest(key, allowed);
      const hint = near === null ? `known fields: ${allowed.join(", ")}` : `did you mean "${near}"?`;
      new Reader(this.file, childPath(this.path, key), object[key]).fail(`unknown field (${hint})`);
    }
    return this;
  }

  object(): JsonObject {
    const v = this.value;
    if (v === null || typeof v !== "object" || Array.isArray(v)) this.fail(`expected an object, got ${describe(v)}`);
    return v;
  }

  items(): Reader[] {
    const v = this.value;
    if (!Array.isArray(v)) this.fail(`expected a list, got ${describe(v)}`);
    return v.map((item, i) => new Reader(this.file, `${this.path}[${i}]`, item));
  }

  /** A list, or nothing when absent. */
  optionalItems(): Reader[] {
    return this.present ? this.items() : [];
  }

  string(): string {
    if (typeof this.value !== "string") this.fail(`expected a string, got ${describe(this.value)}`);
    return this.value;
  }

  boolean(): boolean {
    if (typeof this.value !== "boolean") this.fail(`expected true or false, got ${describe(this.value)}`);
    return this.value;
  }

  number(min: number, max: number, integer = false): number {
    const v = this.value;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(`expected a number, got ${describe(v)}`);
    if (integer && !Number.isInteger(v)) this.fail(`expected a whole number, got ${v}`);
    if (v < min || v > max) this.fail(`expected a number from ${min} to ${max}, got ${v}`);
    return v;
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const s = this.string();
    if (!(choices as readonly string[]).includes(s)) this.fail(`expected one of ${choices.map((c) => `"${c}"`).join(", ")}, got ${describe(s)}`);
    return s as T;
  }

  /** A quantity with units: a string the parser accepts, within [min, max]. */
  quantity(parse: (text: string) => number | null, example: string, kind: string, min: number, max: number): number {
    const v = this.value;
    const parsed = typeof v === "string" ? parse(v) : v === 0 ? 0 : null;
    if (parsed === null) this.fail(`expected ${kind} like "${example}", got ${describe(v)}`);
    if (parsed < min) this.fail(`${kind} must be at least ${min === 0 ? "0" : min}, got ${describe(v)}`);
    if (parsed > max) this.fail(`${kind} ${describe(v)} is too large`);
    return parsed;
  }
}

/** A field's path; a key that is not a plain name is quoted, so the message stays one line. */
function childPath(path: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return `${path}[${describe(key)}]`;
  return path === "" ? key : `${path}.${key}`;
}

/** A value as a message shows it: strings quoted and escaped (one line), and cut short when long. */
export function describe(v: Json | undefined): string {
  if (v === undefined) return "nothing (the field is missing)";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}

function nearest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return previous[b.length] as number;
}
