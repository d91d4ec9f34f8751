import { closeSync, openSync, readSync } from "node:fs";

const STEP_BYTES = 2 ** 20;

/** Whether two files hold the same bytes and length, read 1 MiB at a time: the benches' check of a restored disk. */
export function sameFiles(a: string, b: string): boolean {
  const fa = openSync(a, "r");
  const fb = openSync(b, "r");
  try {
    const ba = Buffer.alloc(STEP_BYTES);
    const bb = Buffer.alloc(STEP_BYTES);
    for (let at = 0; ; at += STEP_BYTES) {
      const na = readSync(fa, ba, 0, STEP_BYTES, at);
      const nb = readSync(fb, bb, 0, STEP_BYTES, at);
      if (na !== nb || ba.subarray(0, na).compare(bb.subarray(0, nb)) !== 0) return false;
      if (na === 0) return true;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}
