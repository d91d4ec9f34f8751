import { readFileSync } from "node:fs";
import { reasonOf } from "../output/errors.js";

/**
 * Reads a file the user named (a node list, a key): a failure becomes one line, `PATH: cannot
 * read the WHAT (why)`, thrown as the caller's own error class, with the reason in the words
 * a user knows ("no such file", "is a directory", "permission denied").
 */
export function readUserFile(path: string, what: string, fail: (message: string) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(`${path}: cannot read the ${what} (${code === "ENOENT" ? "no such file" : reasonOf(error)})`);
  }
}

/** readUserFile, as UTF-8 text. */
export function readUserText(path: string, what: string, fail: (message: string) => Error): string {
  return readUserFile(path, what, fail).toString("utf8");
}
