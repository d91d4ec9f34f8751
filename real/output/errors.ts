/**
 * An output the command will not write, or could not. `badInput` says whose fault: true for what
 * the user asked (the output is the input, a directory, a missing folder, a write-protected file),
 * reported before anything is opened; false for the world failing during the write (disk full).
 * The message is one line naming the path.
 */
export class OutputError extends Error {
  override readonly name = "OutputError";
  constructor(
    message: string,
    readonly badInput: boolean,
  ) {
    super(message);
  }
}

/** Why a file-system call failed, in a few words a user knows, from its error code. */
export function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "EISDIR":
      return "is a directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on the device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "ENAMETOOLONG":
      return "name too long";
    case "ELOOP":
      return "too many symbolic links";
    case "EIO":
      return "input/output error";
    default:
      return error instanceof Error ? error.message.split("\n")[0] ?? String(error) : String(error);
  }
}

/** A failure that left a target written in place partly written. Its own exit code: the target is not usable. */
export class TargetIncompleteError extends Error {
  override readonly name = "TargetIncompleteError";
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`${cause instanceof Error ? cause.message : String(cause)}; ${path} is incomplete (written in place up to the failure)`, { cause });
  }
}
