/*
 * NodeConfigListenError in a module of its own (no imports): bin/failure.ts classifies every command's errors, and
 * importing it from here keeps a command's start-up from loading the server (issue 12).
 */

/** The node-configuration server could not listen (address in use, not on this host): one line, exit 1. */
export class NodeConfigListenError extends Error {
  override readonly name = "NodeConfigListenError";
}
