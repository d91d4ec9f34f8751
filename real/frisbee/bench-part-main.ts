import { runPart, type PartArgs } from "./bench-part.js";

/**
 * The process one part of `bench frisbee --parts` runs in: argv[2] is its PartArgs as JSON; its
 * figures go to stdout as one JSON line, a failure to stderr as one line with exit code 1.
 */
runPart(JSON.parse(process.argv[2] ?? "{}") as PartArgs).then(
  (figures) => {
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`bench part: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
