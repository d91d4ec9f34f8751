/*
 * NodeFileError in a module of its own (no imports): bin/failure.ts classifies every command's errors, and
 * importing it from here keeps a command's start-up from loading the node file's reader (issue 12).
 */

/** A node file the swap cannot use; the message is one line naming the file and line. */
export class NodeFileError extends Error {
  override readonly name = "NodeFileError";
}
