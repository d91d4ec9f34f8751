import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * A compiled module the caller starts in a thread or process: beside the caller once built
 * (dist/real/<dir>/), or, when the caller runs from its TypeScript sources (tests), the build's
 * copy. `from` is the caller's import.meta.url, and the caller must sit in real/<dir>/ (two
 * levels below the project root); `distPath` is the module's path under dist/, such as
 * "real/image/piece-worker.js"; `what` names it in the error when neither exists.
 */
export function builtModuleUrl(from: string, distPath: string, what: string): URL {
  const beside = new URL(`./${distPath.slice(distPath.lastIndexOf("/") + 1)}`, from);
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = new URL(`../../dist/${distPath}`, from);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`${what} is not built (run npm run build)`);
}
