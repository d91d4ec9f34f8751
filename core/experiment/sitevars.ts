/**
 * Site variables: testbed-wide settings an operator changes without touching experiment files,
 * as Emulab's `sitevariables` table holds them. Only known names are accepted, each with a
 * default and a check, so a typo is an error rather than a setting nobody reads.
 */
export interface SiteVariable {
  readonly name: string;
  readonly defaultValue: string;
  readonly description: string;
  /** Null when the value is acceptable, else why not. */
  check(value: string): string | null;
}

/** Longest heartbeat interval a node may be told, in seconds. */
export const HEARTBEAT_SEC_MAX = 3_600;

export const SITE_VARIABLES: readonly SiteVariable[] = [
  {
    name: "images/frisbee/heartbeat",
    defaultValue: "0",
    description: "seconds between a loading node's progress reports (0: off; loadinfo then omits HEARTBEAT)",
    check: (v) => (/^\d{1,4}$/.test(v) && Number(v) <= HEARTBEAT_SEC_MAX ? null : `expected whole seconds from 0 to ${HEARTBEAT_SEC_MAX}, got "${v.slice(0, 40)}"`),
  },
];

export function siteVariable(name: string): SiteVariable | undefined {
  return SITE_VARIABLES.find((v) => v.name === name);
}
