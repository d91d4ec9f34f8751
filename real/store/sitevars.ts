import type Database from "better-sqlite3";
import { SITE_VARIABLES, siteVariable, type SiteVariable } from "../../core/experiment/sitevars.js";
import { guard } from "./errors.js";

/** A site variable's value and whether it was set or is the default. */
export interface SiteVariableValue {
  readonly name: string;
  readonly value: string;
  readonly isDefault: boolean;
  readonly description: string;
  readonly updatedAt: string | null;
}

/** A site variable name or value that is not accepted: the user's mistake. */
export class SiteVariableError extends Error {
  override readonly name = "SiteVariableError";
}

/**
 * Checks a site variable's name, and a value to set, without a store: a command refuses a typo
 * before it opens (and so perhaps creates) one. Returns the variable.
 */
export function checkSiteVariable(name: string, value?: string): SiteVariable {
  const v = siteVariable(name);
  if (v === undefined) throw new SiteVariableError(`no site variable named "${name.slice(0, 64)}" (known: ${SITE_VARIABLES.map((s) => s.name).join(", ")})`);
  const problem = value === undefined ? null : v.check(value);
  if (problem !== null) throw new SiteVariableError(`site variable ${name}: ${problem}`);
  return v;
}

/** The store's `site_variables`: only known names, each checked; unset ones read as their default. */
export class SiteVariableStore {
  private readonly statements;

  constructor(
    db: Database.Database,
    private readonly path: string,
  ) {
    this.statements = guard(path, "prepare site variable statements", () => ({
      get: db.prepare<[string]>("SELECT value, updated_at FROM site_variables WHERE name = ?"),
      set: db.prepare("INSERT INTO site_variables (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"),
      unset: db.prepare("DELETE FROM site_variables WHERE name = ?"),
    }));
  }

  get(name: string): SiteVariableValue {
    const known = checkSiteVariable(name);
    const row = guard(this.path, `read site variable ${name}`, () => this.statements.get.get(name)) as { value: string; updated_at: string } | undefined;
    // A stored value that no longer passes the check (edited by hand) reads as the default.
    if (row === undefined || known.check(row.value) !== null) return { name, value: known.defaultValue, isDefault: true, description: known.description, updatedAt: null };
    return { name, value: row.value, isDefault: false, description: known.description, updatedAt: row.updated_at };
  }

  set(name: string, value: string): void {
    checkSiteVariable(name, value);
    guard(this.path, `set site variable ${name}`, () => this.statements.set.run(name, value, new Date().toISOString()));
  }

  unset(name: string): void {
    checkSiteVariable(name);
    guard(this.path, `unset site variable ${name}`, () => this.statements.unset.run(name));
  }

  list(): SiteVariableValue[] {
    return SITE_VARIABLES.map((v) => this.get(v.name));
  }
}
