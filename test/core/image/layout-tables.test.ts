import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GPT_ENTRIES_MAX, MBR_LOGICAL_MAX, diskLayout, readPartitionTable, totalSectors, type DiskReader, type Partition } from "../../../core/image/index.js";
import { makeFs, put32, type Group } from "./ext-image.js";

/*
 * MBR (with its chain of logical partitions) and GPT partition tables, and what diskLayout makes of
 * the areas they name (swap, ext file systems that cannot be read, a partition larger than its file
 * system), on disks built here byte by byte. layout.test.ts checks a real ext2 inside each kind of
 * table against the original imagezip's image.
 */

const S = 512;
const RAW = ": raw, all-zero blocks skipped";

/**
 * A disk that stores only what was written to it, so tables and partitions can sit past 2^32
 * sectors. Reads outside the disk throw, as the real reader (real/image/allocation.ts) does.
 */
class SparseDisk {
  private readonly areas: { at: number; bytes: Uint8Array }[] = [];
  private readonly sectors = new Map<number, Uint8Array>();
  constructor(readonly sectorCount: number) {}

  /** Sector `n`'s bytes, to edit in place. */
  sector(n: number): Uint8Array {
    let b = this.sectors.get(n);
    if (b === undefined) {
      b = new Uint8Array(S);
      this.sectors.set(n, b);
    }
    return b;
  }

  put(atByte: number, bytes: Uint8Array): this {
    this.areas.push({ at: atByte, bytes });
    return this;
  }

  reader(): DiskReader {
    const sizeBytes = this.sectorCount * S;
    return {
      sizeBytes,
      read: (o, l) => {
        if (o < 0 || l < 0 || o + l > sizeBytes) throw new Error(`read [${o}, +${l}) outside the ${sizeBytes}-byte disk`);
        const out = new Uint8Array(l);
        const copy = (at: number, bytes: Uint8Array): void => {
          const from = Math.max(o, at);
          const to = Math.min(o + l, at + bytes.length);
          if (to > from) out.set(bytes.subarray(from - at, to - at), from - o);
        };
        for (const a of this.areas) copy(a.at, a.bytes);
        for (const [n, b] of this.sectors) copy(n * S, b);
        return out;
      },
    };
  }
}

const sign = (sector: Uint8Array): void => {
  sector[510] = 0x55;
  sector[511] = 0xaa;
};

/** Entry `i` of an MBR or EBR sector. */
function entry(sector: Uint8Array, i: number, type: number, start: number, count: number, status = 0): void {
  const at = 446 + i * 16;
  sector[at] = status;
  sector[at + 4] = type;
  put32(sector, at + 8, start);
  put32(sector, at + 12, count);
}

type Entry = [type: number, start: number, count: number, status?: number];

/** A disk whose sector 0 is an MBR with these entries (null: an empty slot). */
function mbrDisk(sectors: number, entries: (Entry | null)[]): SparseDisk {
  const d = new SparseDisk(sectors);
  const mbr = d.sector(0);
  entries.forEach((e, i) => e !== null && entry(mbr, i, ...e));
  sign(mbr);
  return d;
}

const table = (d: SparseDisk): ReturnType<typeof readPartitionTable> => readPartitionTable(d.reader(), d.sectorCount);
const part = (index: number, startSector: number, sectorCount: number, type: string): Partition => ({ index, startSector, sectorCount, type });

describe("MBR partition tables", () => {
  it("reads the primary entries, bootable or not, sorted by start, types in two hex digits", () => {
    const d = mbrDisk(20_000, [[0x83, 9000, 1000, 0x80], [0x07, 2048, 500], null, [0x0b, 4000, 10]]);
    expect(table(d)).toEqual({ table: "mbr", partitions: [part(2, 2048, 500, "0x07"), part(4, 4000, 10, "0x0b"), part(1, 9000, 1000, "0x83")], problem: null });
  });

  it("reads sector numbers with all four of their bytes", () => {
    const d = mbrDisk(0x0300_0000, [[0x83, 0x0100_0800, 0x0100_0000], [0x83, 0x81, 0x7f]]);
    expect(table(d).partitions).toEqual([part(2, 0x81, 0x7f, "0x83"), part(1, 0x0100_0800, 0x0100_0000, "0x83")]);
  });

  it.each<[string, Entry]>([
    ["a status byte other than 0 and 0x80", [0x83, 2048, 100, 0x01]],
    ["a status byte of 0x81", [0x83, 2048, 100, 0x81]],
    ["no sectors", [0x83, 2048, 0]],
    ["a start at sector 0, over the MBR", [0x83, 0, 100]],
  ])("ignores the whole table for an entry with %s", (_what, bad) => {
    const d = mbrDisk(20_000, [[0x83, 4096, 100], bad]);
    expect(table(d)).toEqual({ table: "none", partitions: [], problem: `sector 0 ends in 55aa but its partition entries do not hold together${RAW}` });
  });

  it("needs both bytes of 55aa, and a disk of 2 sectors or more", () => {
    const half = (at: number): SparseDisk => {
      const d = mbrDisk(20_000, [[0x83, 2048, 100]]);
      d.sector(0)[at] = 0;
      return d;
    };
    const none = { table: "none", partitions: [], problem: null };
    expect(table(half(510))).toEqual(none);
    expect(table(half(511))).toEqual(none);
    expect(table(mbrDisk(1, [[0x83, 1, 1]]))).toEqual(none);
    expect(table(mbrDisk(2, [[0x83, 1, 1]]))).toEqual({ table: "mbr", partitions: [part(1, 1, 1, "0x83")], problem: null });
    expect(table(new SparseDisk(0))).toEqual(none);
  });

  it("refuses partitions past the disk's end or overlapping, and takes them touching", () => {
    expect(table(mbrDisk(3000, [[0x83, 2048, 952]])).partitions).toEqual([part(1, 2048, 952, "0x83")]);
    expect(table(mbrDisk(3000, [[0x83, 2048, 953]]))).toEqual({ table: "mbr", partitions: [], problem: `partition 1 runs past the disk's end (sector 3000)${RAW}` });
    expect(table(mbrDisk(9000, [[0x83, 2048, 100], [0x83, 2148, 100]])).partitions).toHaveLength(2);
    expect(table(mbrDisk(9000, [[0x83, 2048, 100], [0x83, 2147, 100]]))).toEqual({ table: "mbr", partitions: [], problem: `partitions 1 and 2 overlap${RAW}` });
  });
});

/** An EBR at `at`: its own partition (start relative to the EBR) and the next EBR (relative to the extended partition). */
function ebr(d: SparseDisk, at: number, own: Entry | null, next: [start: number, count: number] | null): void {
  const s = d.sector(at);
  if (own !== null) entry(s, 0, ...own);
  if (next !== null) entry(s, 1, 0x05, ...next);
  sign(s);
}

describe("MBR logical partitions", () => {
  it.each([0x05, 0x0f, 0x85])("follows the EBR chain of an extended partition (type 0x%s), numbering from 5", (type) => {
    const d = mbrDisk(20_000, [[0x83, 2048, 1000], [type, 4096, 10_000]]);
    ebr(d, 4096, [0x83, 63, 100], [200, 300]);
    ebr(d, 4296, [0x07, 63, 100], null);
    expect(table(d)).toEqual({ table: "mbr", partitions: [part(1, 2048, 1000, "0x83"), part(5, 4159, 100, "0x83"), part(6, 4359, 100, "0x07")], problem: null });
  });

  it("skips an EBR whose own entry is empty or does not hold together, and goes on along the chain", () => {
    const d = mbrDisk(20_000, [[0x05, 4096, 10_000]]);
    ebr(d, 4096, null, [100, 100]);
    ebr(d, 4196, [0x83, 10, 50, 0x13], [200, 100]);
    ebr(d, 4296, [0x83, 0, 50], [300, 100]);
    ebr(d, 4396, [0x83, 10, 0], [400, 100]);
    ebr(d, 4496, [0x83, 10, 50, 0x80], null);
    expect(table(d)).toEqual({ table: "mbr", partitions: [part(9, 4506, 50, "0x83")], problem: null });
  });

  it("refuses an EBR at or past the extended partition's end, or past the disk's, without reading there", () => {
    const chain = (disk: number, extSectors: number, nextAt: number): SparseDisk => {
      const d = mbrDisk(disk, [[0x83, 2048, 100], [0x05, 4096, extSectors]]);
      ebr(d, 4096, [0x83, 1, 10], [nextAt, 1]);
      ebr(d, 4096 + nextAt, [0x83, 1, 10], null);
      return d;
    };
    const first = [part(1, 2048, 100, "0x83")];
    expect(table(chain(20_000, 1000, 999)).partitions).toHaveLength(3);
    expect(table(chain(20_000, 1000, 1000))).toEqual({ table: "mbr", partitions: first, problem: "logical partition 6: its EBR at sector 5096 is outside the extended partition" });
    // The extended partition runs past the disk's end: its last sectors are not there to read.
    expect(table(chain(5096, 5000, 1000))).toEqual({ table: "mbr", partitions: first, problem: "logical partition 6: its EBR at sector 5096 is outside the extended partition" });
    const past = mbrDisk(3000, [[0x83, 2048, 100], [0x05, 4096, 10]]);
    expect(table(past)).toEqual({ table: "mbr", partitions: first, problem: "logical partition 5: its EBR at sector 4096 is outside the extended partition" });
  });

  it("refuses an EBR without 55aa", () => {
    for (const at of [510, 511]) {
      const d = mbrDisk(20_000, [[0x05, 4096, 10_000]]);
      ebr(d, 4096, [0x83, 1, 10], [100, 1]);
      ebr(d, 4196, [0x83, 1, 10], null);
      d.sector(4196)[at] = 0;
      expect(table(d)).toEqual({ table: "mbr", partitions: [], problem: "logical partition 6: no EBR signature at sector 4196" });
    }
  });

  it(`takes ${MBR_LOGICAL_MAX} logical partitions and refuses a longer chain, or one that loops`, () => {
    const chainOf = (n: number): SparseDisk => {
      const d = mbrDisk(20_000, [[0x05, 2048, 4 * n]]);
      for (let k = 0; k < n; k++) ebr(d, 2048 + 2 * k, [0x83, 1, 1], k + 1 < n ? [2 * (k + 1), 2] : null);
      return d;
    };
    const ok = table(chainOf(MBR_LOGICAL_MAX));
    expect(ok.problem).toBeNull();
    expect(ok.partitions.map((p) => p.index)).toEqual(Array.from({ length: MBR_LOGICAL_MAX }, (_, k) => k + 5));
    expect(table(chainOf(MBR_LOGICAL_MAX + 1))).toEqual({ table: "mbr", partitions: [], problem: `more than ${MBR_LOGICAL_MAX} logical partitions` });
    const loop = mbrDisk(20_000, [[0x05, 2048, 100]]);
    ebr(loop, 2048, [0x83, 1, 1], [0, 2]);
    expect(table(loop).problem).toBe(`more than ${MBR_LOGICAL_MAX} logical partitions`);
  });

  it("keeps the partitions found before a broken chain only when they lie on the disk (they are probed)", () => {
    const d = mbrDisk(20_000, [[0x83, 30_000, 100], [0x05, 4096, 100]]);
    expect(table(d)).toEqual({ table: "mbr", partitions: [], problem: `partition 1 runs past the disk's end (sector 20000)${RAW}` });
    const l = diskLayout(d.reader());
    expect(l.notes).toEqual([`partition 1 runs past the disk's end (sector 20000)${RAW}`]);
    expect(l.rawAreas).toEqual([{ startSector: 0, sectorCount: 20_000 }]);
  });
});

const LINUX = Uint8Array.from([0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4]);
/** The EFI system partition's type GUID: it has a zero byte. */
const ESP = Uint8Array.from([0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b]);

const put64 = (b: Uint8Array, at: number, v: number): void => {
  put32(b, at, v % 0x1_0000_0000);
  put32(b, at + 4, Math.floor(v / 0x1_0000_0000));
};

interface GptSpec {
  entriesLba?: number;
  count?: number;
  entryBytes?: number;
  entries: { slot: number; type?: Uint8Array; first: number; last: number }[];
  signature?: string;
}

/** A protective MBR, the GPT header at sector 1, the entries where the header says. */
function gptDisk(sectors: number, g: GptSpec): SparseDisk {
  const d = mbrDisk(sectors, [[0xee, 1, Math.min(sectors - 1, 0xffff_ffff)]]);
  const entriesLba = g.entriesLba ?? 2;
  const entryBytes = g.entryBytes ?? 128;
  const h = d.sector(1);
  h.set(Array.from(g.signature ?? "EFI PART", (c) => c.charCodeAt(0)));
  put64(h, 72, entriesLba);
  put32(h, 80, g.count ?? 128);
  put32(h, 84, entryBytes);
  for (const e of g.entries) {
    const b = new Uint8Array(128);
    b.set(e.type ?? LINUX);
    put64(b, 32, e.first);
    put64(b, 40, e.last);
    d.put(entriesLba * S + e.slot * entryBytes, b);
  }
  return d;
}

describe("GPT partition tables", () => {
  it("reads entries from any slot, named by their slot, sorted by start, with their type GUIDs", () => {
    const d = gptDisk(20_000, { entries: [{ slot: 0, first: 2048, last: 4095 }, { slot: 2, type: ESP, first: 34, last: 1000 }, { slot: 5, first: 5000, last: 5000 }] });
    expect(table(d)).toEqual({
      table: "gpt",
      partitions: [part(3, 34, 967, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), part(1, 2048, 2048, "0fc63daf-8483-4772-8e79-3d69d8477de4"), part(6, 5000, 1, "0fc63daf-8483-4772-8e79-3d69d8477de4")],
      problem: null,
    });
  });

  it("reads 64-bit sector numbers with both halves, entries of 256 bytes too", () => {
    const far = 0x1_0100_0800;
    const d = gptDisk(far + 0x10_0000, { entriesLba: far - 100, entryBytes: 256, entries: [{ slot: 1, first: far, last: far + 0x1_0000 }, { slot: 3, first: 0x0300_0000, last: 0x0300_0000 + 7 }] });
    expect(table(d)).toEqual({ table: "gpt", partitions: [part(4, 0x0300_0000, 8, "0fc63daf-8483-4772-8e79-3d69d8477de4"), part(2, far, 0x1_0001, "0fc63daf-8483-4772-8e79-3d69d8477de4")], problem: null });
  });

  it.each<[string, number, Omit<GptSpec, "entries">, boolean]>([
    [`${GPT_ENTRIES_MAX} entries`, 20_000, { count: GPT_ENTRIES_MAX }, true],
    [`${GPT_ENTRIES_MAX + 1} entries`, 20_000, { count: GPT_ENTRIES_MAX + 1 }, false],
    ["entries of 127 bytes", 20_000, { entryBytes: 127 }, false],
    ["entries of 4096 bytes", 20_000, { count: 4, entryBytes: 4096 }, true],
    ["entries of 4097 bytes", 20_000, { count: 4, entryBytes: 4097 }, false],
    ["entries at sector 1, over the header", 20_000, { entriesLba: 1 }, false],
    ["entries that end at the disk's end", 34, {}, true],
    ["entries that end a sector past the disk's end", 33, {}, false],
  ])("takes or refuses %s", (_what, sectors, spec, ok) => {
    const d = gptDisk(sectors, { ...spec, entries: [] });
    const { count = 128, entryBytes = 128, entriesLba = 2 } = spec;
    expect(table(d)).toEqual(ok ? { table: "gpt", partitions: [], problem: null } : { table: "none", partitions: [], problem: `GPT header lists ${count} entries of ${entryBytes} bytes at sector ${entriesLba}, which do not fit${RAW}` });
  });

  it("refuses an entry that ends before it starts, and partitions past the disk's end or overlapping", () => {
    const one = (entries: GptSpec["entries"]) => table(gptDisk(20_000, { entries }));
    expect(one([{ slot: 0, first: 2048, last: 4095 }, { slot: 3, first: 100, last: 99 }])).toEqual({ table: "gpt", partitions: [], problem: `GPT entry 4 ends (sector 99) before it starts (100)${RAW}` });
    expect(one([{ slot: 0, first: 100, last: 19_999 }]).partitions).toEqual([part(1, 100, 19_900, "0fc63daf-8483-4772-8e79-3d69d8477de4")]);
    expect(one([{ slot: 0, first: 100, last: 20_000 }])).toEqual({ table: "gpt", partitions: [], problem: `partition 1 runs past the disk's end (sector 20000)${RAW}` });
    expect(one([{ slot: 0, first: 100, last: 199 }, { slot: 1, first: 200, last: 300 }]).partitions).toHaveLength(2);
    expect(one([{ slot: 1, first: 100, last: 199 }, { slot: 0, first: 199, last: 300 }])).toEqual({ table: "gpt", partitions: [], problem: `partitions 2 and 1 overlap${RAW}` });
  });

  it("says so when a protective MBR has no GPT header behind it, and reads the disk raw", () => {
    const d = gptDisk(20_000, { signature: "EFI PARU", entries: [{ slot: 0, first: 2048, last: 4095 }] });
    const problem = `protective MBR without a GPT header at sector 1${RAW}`;
    expect(table(d)).toEqual({ table: "none", partitions: [], problem });
    const l = diskLayout(d.reader());
    expect(l.notes).toEqual([problem]);
    expect(l.rawAreas).toEqual([{ startSector: 0, sectorCount: 20_000 }]);
  });
});

describe("partition tables on random bytes", () => {
  it("never throw, never read outside the disk, and give partitions on the disk and apart (property)", () => {
    const entryArb = fc.tuple(fc.constantFrom(0, 0x05, 0x07, 0x83, 0xee), fc.nat(3000), fc.nat(3000), fc.constantFrom(0, 0x80, 0x13));
    fc.assert(fc.property(fc.nat({ max: 4000 }), fc.array(entryArb, { minLength: 4, maxLength: 4 }), fc.array(fc.tuple(fc.nat(3000), entryArb, fc.nat(300)), { maxLength: 6 }), (sectors, entries, ebrs) => {
      const d = mbrDisk(sectors, entries.map(([t, s, n, st]) => (t === 0 ? null : [t, s, n, st])));
      for (const [at, [t, s, n, st], next] of ebrs) ebr(d, at, t === 0 ? null : [t, s, n, st], next === 0 ? null : [next, 1]);
      const t = table(d);
      let end = 0;
      for (const p of t.partitions) {
        expect(p.startSector).toBeGreaterThanOrEqual(end);
        end = p.startSector + p.sectorCount;
        expect(end).toBeLessThanOrEqual(sectors);
      }
    }), { numRuns: 500 });
  });
});

/** An ext2 of 1 KiB blocks, 16 per group, the boot block and one block per group in use. */
function ext2(groups: Group[]): Uint8Array {
  return makeFs({ blocks: 1 + 16 * groups.length, blocksPerGroup: 16, groups });
}
const oneUsed = (): Group => ({ bits: [true, ...Array<boolean>(15).fill(false)] });

describe("areas of a disk", () => {
  it("takes a bare ext file system as the disk's one area, with no partition table", () => {
    const fsBytes = ext2([oneUsed(), oneUsed()]);
    const l = diskLayout(new SparseDisk(fsBytes.length / S).put(0, fsBytes).reader());
    expect(l).toEqual({
      table: "none",
      partitions: [],
      fsAreas: [{ startSector: 0, sectorCount: 66, kind: "ext2", blockBytes: 1024, usedBlocks: 3, blocks: 33 }],
      fsInUse: [{ startSector: 0, sectorCount: 4 }, { startSector: 34, sectorCount: 2 }],
      rawAreas: [],
      notes: ["the disk: ext2, 1 KiB blocks, 3 of 33 in use"],
    });
  });

  it("keeps the first 32 KiB of a swap partition: SWAPSPACE2 whatever its type, SWAP-SPACE only with type 0x82", () => {
    const d = mbrDisk(20_000, [[0x82, 2048, 72], [0x83, 4096, 200], [0x82, 6144, 100], [0x83, 8192, 100]]);
    const sig = (sector: number, text: string): void => void d.put(sector * S + 4086, Uint8Array.from(text, (c) => c.charCodeAt(0)));
    sig(2048, "SWAPSPACE2");
    sig(4096, "SWAPSPACE2");
    sig(6144, "SWAP-SPACE");
    sig(8192, "SWAP-SPACE");
    const l = diskLayout(d.reader());
    expect(l.fsAreas).toEqual([
      { startSector: 2048, sectorCount: 72, kind: "swap", blockBytes: 512, usedBlocks: 64, blocks: 72 },
      { startSector: 4096, sectorCount: 200, kind: "swap", blockBytes: 512, usedBlocks: 64, blocks: 200 },
      { startSector: 6144, sectorCount: 100, kind: "swap", blockBytes: 512, usedBlocks: 64, blocks: 100 },
    ]);
    expect(l.fsInUse).toEqual([{ startSector: 2048, sectorCount: 64 }, { startSector: 4096, sectorCount: 64 }, { startSector: 6144, sectorCount: 64 }]);
    expect(l.notes).toEqual([
      "partition 1 (type 0x82): Linux swap: only its first 32 KiB kept",
      "partition 2 (type 0x83): Linux swap: only its first 32 KiB kept",
      "partition 3 (type 0x82): Linux swap: only its first 32 KiB kept",
      `partition 4 (type 0x83): not ext2/3/4${RAW}`,
    ]);
    expect(totalSectors(l.rawAreas)).toBe(20_000 - 72 - 200 - 100);
  });

  it("needs 36 KiB and a signature for swap, and SWAP-SPACE's type on a GPT partition too", () => {
    const d = mbrDisk(20_000, [[0x82, 2048, 71], [0x82, 4096, 100]]);
    d.put(2048 * S + 4086, Uint8Array.from("SWAPSPACE2", (c) => c.charCodeAt(0)));
    expect(diskLayout(d.reader()).notes).toEqual([`partition 1 (type 0x82): not ext2/3/4${RAW}`, `partition 2 (type 0x82): not ext2/3/4${RAW}`]);
    const g = gptDisk(20_000, { entries: [{ slot: 0, first: 2048, last: 2147 }] });
    g.put(2048 * S + 4086, Uint8Array.from("SWAP-SPACE", (c) => c.charCodeAt(0)));
    expect(diskLayout(g.reader()).fsAreas).toEqual([]);
  });

  it("says why an ext superblock it found cannot be read, and reads the partition raw", () => {
    const fsBytes = makeFs({ blocks: 17, blocksPerGroup: 16, groups: [oneUsed()], logBlockSize: 7, areaBytes: 17 * 1024 });
    const d = mbrDisk(20_000, [[0x83, 2048, 100]]).put(2048 * S, fsBytes);
    const l = diskLayout(d.reader());
    expect(l.notes).toEqual([`partition 1 (type 0x83): ext superblock found but block size 2^17 is outside 1 KiB to 64 KiB${RAW}`]);
    expect(l.fsAreas).toEqual([]);
  });

  it("reads the sectors after a smaller file system raw, saying how many, and names at most 3 groups that disagree", () => {
    const disagree = (): Group => ({ ...oneUsed(), free: 0 });
    const fsBytes = ext2([disagree(), disagree(), disagree(), disagree(), oneUsed()]);
    const d = mbrDisk(20_000, [[0x83, 2048, 262]]).put(2048 * S, fsBytes);
    const l = diskLayout(d.reader());
    expect(l.fsAreas).toEqual([{ startSector: 2048, sectorCount: 162, kind: "ext2", blockBytes: 1024, usedBlocks: 6, blocks: 81 }]);
    expect(l.notes).toEqual([
      "partition 1 (type 0x83): ext2, 1 KiB blocks, 6 of 81 in use; 100 sectors after it: raw",
      ...[0, 1, 2].map((g) => `partition 1 (type 0x83): warning: group ${g}: 15 blocks free by the bitmap, 0 by the descriptor`),
    ]);
    expect(l.rawAreas).toEqual([{ startSector: 0, sectorCount: 2048 }, { startSector: 2048 + 162, sectorCount: 20_000 - 2048 - 162 }]);
  });
});
