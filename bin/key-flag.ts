import { readFileSync } from "node:fs";
import { parseSigningKey, type RsaPublicKey } from "../core/image/checksum.js";
import { UsageError } from "./errors.js";

/** `--key FILE`: the original's signing key file (its n and e verify signed chunks). */
export function readKeyFlag(path: string | undefined): RsaPublicKey | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`--key ${path}: cannot read the key file (${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message})`);
  }
  const k = parseSigningKey(text);
  if (!k.ok) throw new UsageError(`--key ${path}: ${k.error}`);
  return k.value;
}
