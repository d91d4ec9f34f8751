/*
 * QueueError and ThreadTaskError in a module of its own (no imports): bin/failure.ts classifies every command's errors, and
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

/**
 * What a pool thread's task threw (real/queue/threads.ts): its class's name, its message and the
 * thread's stack. Only the name crosses from the thread, not the class, so a caller classifies the
 * error by `thrownName` (bin/failure.ts: the user's mistakes are one line and exit 2, a bug keeps its stack).
 */
export class ThreadTaskError extends Error {
  override readonly name: string;
  constructor(
    readonly thrownName: string,
    message: string,
    threadStack?: string,
  ) {
    super(message);
    this.name = thrownName;
    if (threadStack !== undefined) this.stack = threadStack;
  }
}
