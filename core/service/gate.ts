/**
 * Version gating: every service message carries the protocol version of its sender; a peer of a
 * different version is ignored and counted, so a staged rollout never mixes incompatible peers.
 * The rule is a function so that a simulation can put a broken one in its place and show that the
 * no-cross-version invariant catches it.
 */
export type GateRule = (localVersion: number, messageVersion: number) => boolean;

export const SAME_VERSION_ONLY: GateRule = (local, message) => local === message;

export class VersionGate {
  /** Messages let through, and ignored for their version. */
  accepted = 0;
  ignored = 0;

  constructor(
    public version: number,
    private readonly rule: GateRule = SAME_VERSION_ONLY,
  ) {}

  /** True if a message of `messageVersion` may be handled; counts it either way (`count` messages at once). */
  accept(messageVersion: number, count = 1): boolean {
    if (this.rule(this.version, messageVersion)) {
      this.accepted += count;
      return true;
    }
    this.ignored += count;
    return false;
  }
}
