import { readUserFile } from "../runtime/read-file.js";
import { KEY_BYTES_MIN } from "./channel.js";

export class KeyError extends Error {
  override readonly name = "KeyError";
}

/** The operator's shared secret: the file's bytes, surrounding whitespace removed; at least 16 bytes. */
export function readKey(path: string): Buffer {
  const bytes = readUserFile(path, "key", (m) => new KeyError(m));
  const text = bytes.toString("latin1").trim();
  if (text.length < KEY_BYTES_MIN) throw new KeyError(`${path}: the key holds ${text.length} bytes, fewer than ${KEY_BYTES_MIN} (make one with: head -c 32 /dev/urandom | base64 > ${path})`);
  return Buffer.from(text, "latin1");
}
