#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { report } from "./failure.js";
import { cleanUpOnExit, exitQuietlyOnClosedPipe } from "./interrupt.js";
import { buildProgram } from "./program.js";

/*
 * The entry point. The commands are in bin/program.ts, which loads only the modules the command
 * given needs: a small command's time was mostly module loading (issue 12).
 */

function packageVersion(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

/** parseAsync, so a command whose action awaits (a swap) reports its errors as the others do. */
async function main(argv: string[]): Promise<void> {
  cleanUpOnExit();
  exitQuietlyOnClosedPipe();
  try {
    await (await buildProgram(argv, packageVersion())).parseAsync(argv);
  } catch (error) {
    process.exitCode = report(error);
  }
}

void main(process.argv);
