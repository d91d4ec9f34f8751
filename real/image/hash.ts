import { createHash } from "node:crypto";
import type { HashKind, HashPort } from "../../core/image/index.js";

/** The hash port backed by node:crypto (OpenSSL). */
export const nodeHash: HashPort = {
  create(kind: HashKind) {
    const h = createHash(kind);
    return {
      update: (data: Uint8Array) => void h.update(data),
      digest: () => new Uint8Array(h.digest()),
    };
  },
};
