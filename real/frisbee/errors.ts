/*
 * The Frisbee code's error classes in a module of its own (no imports): bin/failure.ts classifies every command's errors, and
 * importing them from here keeps a command's start-up from loading the Frisbee server and bench (issue 12).
 */

/** A run of the bench that failed (a receiver or udpcast exited badly): one line, exit 1. */
export class FrisbeeBenchError extends Error {
  override readonly name = "FrisbeeBenchError";
}

/** An image the server cannot serve (missing, unreadable, not chunks): one line, exit 2. */
export class ImageFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageFileError";
  }
}
