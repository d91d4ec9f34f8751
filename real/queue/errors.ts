/*
 * QueueError in a module of its own (no imports): bin/failure.ts classifies every command's errors, and
 * importing it from here keeps a command's start-up from loading the queue's code (issue 12).
 */

/**
 * A failure of the queue's outside world (Redis unreachable, gone, or refusing): one line naming the
 * server, fit to show a user as is. `usage` marks a mistake in what the user typed (a bad URL).
 */
export class QueueError extends Error {
  override readonly name = "QueueError";
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message.replace(/\s*[\r\n]+\s*/g, "; "));
  }
}
