/*
 * NetError in a module of its own (no imports): bin/failure.ts classifies every command's errors, and
 * importing it from here keeps a command's start-up from loading the sockets' code (issue 12).
 */

/** A network setup that failed, one line. `badInput`: the address given was wrong (not IPv4, not multicast, not on this host). */
export class NetError extends Error {
  constructor(
    message: string,
    readonly badInput = false,
  ) {
    super(message);
    this.name = "NetError";
  }
}
