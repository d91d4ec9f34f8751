import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { allocatedRanges, type HashKind } from "../../../core/image/index.js";
import { ImageIoError } from "../../../real/image/errors.js";
import { PieceHasher } from "../../../real/image/piece-hasher.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-piece-hasher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KIB = 1024;

/** 1 MiB: data, a 64 KiB hole of zeros at 256 KiB, data again, zeros from 768 KiB. */
function disk(): Uint8Array {
  const d = new Uint8Array(1024 * KIB);
  let x = 12345;
  for (let i = 0; i < 768 * KIB; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    d[i] = x >>> 24;
  }
  d.fill(0, 256 * KIB, 320 * KIB);
  return d;
}

const bytes = disk();
const path = join(dir, "disk.raw");
writeFileSync(path, bytes);

async function windowsOf(threads: number, kind: HashKind, windows: readonly [number, number][], pieces: readonly (readonly [number, number])[]) {
  const fd = openSync(path, "r");
  const hasher = new PieceHasher(fd, path, kind, 4096, threads);
  try {
    for (const [at, n] of windows) hasher.ask(at, n, pieces);
    const got = [];
    for (let k = 0; k < windows.length; k++) {
      const w = await hasher.next();
      // Copied: the window's slot is filled again once the next one is taken.
      got.push({ data: w.data.slice(), digests: w.digests.map((d) => Buffer.from(d).toString("hex")), nonzero: w.nonzero });
    }
    return got;
  } finally {
    await hasher.close();
    closeSync(fd);
  }
}

describe("the piece hasher (reads and hashes on worker threads)", () => {
  const windows: [number, number][] = [
    [0, 320 * KIB],
    [320 * KIB, 256 * KIB],
    [576 * KIB, 448 * KIB],
    [0, 64 * KIB],
    [192 * KIB, 192 * KIB],
  ];
  // Pieces inside every window: a whole 64 KiB, a cut one, one sector.
  const pieces: [number, number][] = [
    [0, 64 * KIB],
    [64 * KIB - 512, 4096],
    [64 * KIB - 512, 512],
  ];

  for (const threads of [0, 1, 2]) {
    for (const kind of ["sha1", "sha256", "md5"] as const) {
      it(`gives each window's bytes, its pieces' digests and its non-zero blocks in the order asked (${threads} threads, ${kind})`, async () => {
        const got = await windowsOf(threads, kind, windows, pieces);
        windows.forEach(([at, n], k) => {
          const data = bytes.subarray(at, at + n);
          expect(Buffer.from(got[k]!.data).equals(Buffer.from(data))).toBe(true);
          expect(got[k]!.digests).toEqual(pieces.map(([o, len]) => createHash(kind).update(data.subarray(o, o + len)).digest("hex")));
          expect(got[k]!.nonzero).toEqual(allocatedRanges(data, at, 4096));
        });
      });
    }
  }

  it("gives a zero piece the digest of its zeros (a constant, not hashed again)", async () => {
    const zero = [[256 * KIB, 64 * KIB], [300 * KIB, 512], [256 * KIB, 4096]] as const;
    for (const threads of [0, 2]) {
      const got = await windowsOf(threads, "sha1", [[0, 1024 * KIB], [0, 1024 * KIB]], zero);
      for (const w of got) expect(w.digests).toEqual(zero.map(([, len]) => createHash("sha1").update(new Uint8Array(len)).digest("hex")));
      expect(got[0]!.nonzero).toEqual([{ startSector: 0, sectorCount: 512 }, { startSector: 640, sectorCount: 896 }]);
    }
  });

  it("fails a window past the end of the disk with one line naming the file and the byte, on a thread or not", async () => {
    for (const threads of [0, 2]) {
      const err = await windowsOf(threads, "sha1", [[0, 64 * KIB], [1000 * KIB, 64 * KIB]], []).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageIoError);
      expect((err as Error).message).toBe(`${path}: unexpected end of input at byte ${1024 * KIB}`);
    }
  });

  it("refuses a thread count out of range", () => {
    expect(() => new PieceHasher(0, path, "sha1", 4096, 9)).toThrow(/threads must be 0 to 8/);
    expect(() => new PieceHasher(0, path, "sha1", 4096, -1)).toThrow(/threads must be 0 to 8/);
  });
});
