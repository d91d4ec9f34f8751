import { constants, createDeflate } from "node:zlib";

/**
 * One chunk's zlib stream, fed as imagezip feeds it: every `write` is followed by a Z_SYNC_FLUSH,
 * and `end` is the Z_FINISH. Both answer with the compressed bytes produced.
 */
export interface Deflater {
  write(data: Uint8Array): Promise<Uint8Array[]>;
  end(): Promise<Uint8Array[]>;
}

export type DeflateEngineName = "node" | "compat";

export interface DeflateEngine {
  name: DeflateEngineName;
  create(level: number): Deflater;
}

/**
 * node:zlib. Its async calls run deflate on libuv's thread pool, so two streams in flight use both
 * cores without worker threads. Node bundles Chromium's zlib, whose deflate finds different
 * matches from upstream zlib's: valid streams, but not the original imagezip's bytes.
 */
export const nodeEngine: DeflateEngine = {
  name: "node",
  create(level) {
    const stream = createDeflate({ level, chunkSize: 128 * 1024 });
    let out: Uint8Array[] = [];
    stream.on("data", (b: Buffer) => out.push(b));
    const take = (): Uint8Array[] => {
      const got = out;
      out = [];
      return got;
    };
    return {
      write: (data) =>
        new Promise((resolve, reject) => {
          stream.once("error", reject);
          stream.write(data);
          stream.flush(constants.Z_SYNC_FLUSH, () => {
            stream.off("error", reject);
            resolve(take());
          });
        }),
      end: () =>
        new Promise((resolve, reject) => {
          stream.once("error", reject);
          stream.once("end", () => resolve(take()));
          stream.end();
        }),
    };
  },
};

interface PakoDeflate {
  onData: (chunk: Uint8Array) => void;
  push(data: Uint8Array, flush: number | boolean): boolean;
  err: number;
  msg: string;
}
interface PakoModule {
  Deflate: new (options: { level: number }) => PakoDeflate;
}

const PAKO_SYNC_FLUSH = 2;

/**
 * pako, a JavaScript port of upstream zlib: with imagezip's read and flush pattern it reproduces
 * the original's images byte for byte. Pure JavaScript on the calling thread, so slower.
 * Loaded on demand; null when the package is not installed.
 */
export async function loadCompatEngine(): Promise<DeflateEngine | null> {
  const name = "pako";
  let pako: PakoModule;
  try {
    const mod = (await import(name)) as { default?: PakoModule } & PakoModule;
    pako = mod.default ?? mod;
  } catch {
    return null;
  }
  return {
    name: "compat",
    create(level) {
      const d = new pako.Deflate({ level });
      let out: Uint8Array[] = [];
      d.onData = (chunk) => out.push(chunk);
      const run = (data: Uint8Array, flush: number | boolean): Promise<Uint8Array[]> => {
        d.push(data, flush);
        if (d.err !== 0) return Promise.reject(new Error(`pako deflate: ${d.msg}`));
        const got = out;
        out = [];
        return Promise.resolve(got);
      };
      return { write: (data) => run(data, PAKO_SYNC_FLUSH), end: () => run(new Uint8Array(0), true) };
    },
  };
}
