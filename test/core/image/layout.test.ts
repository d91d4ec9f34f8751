import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CHUNK_BYTES, diskLayout, extAllocation, normalize, parseChunkHeader, type DiskReader, type Region } from "../../../core/image/index.js";
import { emulabFixture } from "../../fixtures/emulab.js";

const S = 512;
const fs = gunzipSync(readFileSync(emulabFixture("ext2-8mib.img.gz")));
const edited = gunzipSync(readFileSync(emulabFixture("ext2-8mib-edited.img.gz")));

function reader(disk: Uint8Array): DiskReader {
  return { sizeBytes: disk.length, read: (o, l) => disk.subarray(o, o + l) };
}

/** The regions the original `imagezip -l` put into ext2-8mib.ndz. */
function originalRegions(): Region[] {
  const image = readFileSync(emulabFixture("ext2-8mib.ndz"));
  const out: Region[] = [];
  for (let i = 0; i < image.length / CHUNK_BYTES; i++) {
    const h = parseChunkHeader(image.subarray(i * CHUNK_BYTES), i);
    if (!h.ok) throw new Error(h.error);
    out.push(...h.value.regions);
  }
  return normalize(out);
}

/** A disk with an MBR: `fsImage` as partition 1 at sector 2048, an empty type-0x07 partition 2. */
function mbrDisk(fsImage: Uint8Array): Uint8Array {
  const disk = new Uint8Array((2048 + fsImage.length / S + 4096) * S);
  const v = new DataView(disk.buffer);
  const entry = (i: number, type: number, start: number, sectors: number): void => {
    const at = 446 + i * 16;
    disk[at + 4] = type;
    v.setUint32(at + 8, start, true);
    v.setUint32(at + 12, sectors, true);
  };
  entry(0, 0x83, 2048, fsImage.length / S);
  entry(1, 0x07, 2048 + fsImage.length / S, 4096);
  disk.set([0x55, 0xaa], 510);
  disk.set(fsImage, 2048 * S);
  disk.fill(0x5a, (2048 + fsImage.length / S + 100) * S, (2048 + fsImage.length / S + 108) * S);
  return disk;
}

/** A GPT disk: a protective MBR, the header at sector 1, 128 entries at sector 2, `fsImage` at 2048. */
function gptDisk(fsImage: Uint8Array): Uint8Array {
  const disk = new Uint8Array((2048 + fsImage.length / S + 64) * S);
  const v = new DataView(disk.buffer);
  disk[446 + 4] = 0xee;
  v.setUint32(446 + 8, 1, true);
  v.setUint32(446 + 12, disk.length / S - 1, true);
  disk.set([0x55, 0xaa], 510);
  disk.set(Array.from("EFI PART", (c) => c.charCodeAt(0)), S);
  v.setUint32(S + 72, 2, true);
  v.setUint32(S + 80, 128, true);
  v.setUint32(S + 84, 128, true);
  const e = 2 * S;
  disk.set([0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4], e); // Linux file system
  disk[e + 16] = 1;
  v.setUint32(e + 32, 2048, true);
  v.setUint32(e + 40, 2048 + fsImage.length / S - 1, true);
  disk.set(fsImage, 2048 * S);
  return disk;
}

const shift = (rs: Region[], by: number): Region[] => rs.map((r) => ({ startSector: r.startSector + by, sectorCount: r.sectorCount }));

describe("ext2 allocation, against the original imagezip -l", () => {
  it("finds exactly the ranges the original put in ext2-8mib.ndz", () => {
    const l = diskLayout(reader(fs));
    expect(l.fsInUse).toEqual(originalRegions());
    expect(l.rawAreas).toEqual([]);
    expect(l.notes).toEqual(["the disk: ext2, 1 KiB blocks, 2795 of 8192 in use"]);
  });

  it("counts the deleted file's blocks as free after the edit", () => {
    const l = diskLayout(reader(edited));
    expect(l.fsInUse).toEqual([{ startSector: 0, sectorCount: 2108 }, { startSector: 3088, sectorCount: 2502 }]);
  });

  it("finds the same file system inside an MBR partition and a GPT partition, the rest raw", () => {
    const m = diskLayout(reader(mbrDisk(fs)));
    expect(m.table).toBe("mbr");
    expect(m.fsInUse).toEqual(shift(originalRegions(), 2048));
    expect(m.rawAreas).toEqual([{ startSector: 0, sectorCount: 2048 }, { startSector: 2048 + 16384, sectorCount: 4096 }]);
    expect(m.notes).toEqual(["partition 1 (type 0x83): ext2, 1 KiB blocks, 2795 of 8192 in use", "partition 2 (type 0x07): not ext2/3/4: raw, all-zero blocks skipped"]);
    const g = diskLayout(reader(gptDisk(fs)));
    expect(g.table).toBe("gpt");
    expect(g.partitions[0]?.type).toBe("0fc63daf-8483-4772-8e79-3d69d8477de4");
    expect(g.fsInUse).toEqual(shift(originalRegions(), 2048));
  });

  it("falls back to raw, saying so, for a plain disk and for an MBR whose entries do not hold together", () => {
    expect(diskLayout(reader(new Uint8Array(1 << 20))).notes).toEqual(["no partition table and no ext2/3/4 file system: raw, all-zero blocks skipped"]);
    const bad = mbrDisk(fs);
    bad[446] = 0x13;
    expect(diskLayout(reader(bad)).notes[0]).toMatch(/partition entries do not hold together: raw/);
  });

  it("refuses a file system that claims more blocks than its area holds", () => {
    expect(extAllocation(reader(fs), 0, fs.length / 2)).toMatch(/overrun its 4194304-byte area/);
  });
});

describe("diskLayout on random bytes", () => {
  it("never throws and never reads outside the disk", () => {
    const superblockish = fc.uint8Array({ minLength: 4096, maxLength: 4096 }).map((b) => {
      const d = new Uint8Array(64 * 1024);
      d.set(b);
      d[1024 + 56] = 0x53;
      d[1024 + 57] = 0xef;
      return d;
    });
    const mbrish = fc.uint8Array({ minLength: 1024, maxLength: 1024 }).map((b) => {
      const d = new Uint8Array(64 * 1024);
      d.set(b);
      d[510] = 0x55;
      d[511] = 0xaa;
      return d;
    });
    fc.assert(fc.property(fc.oneof(superblockish, mbrish), (disk) => {
      const r: DiskReader = {
        sizeBytes: disk.length,
        read: (o, l) => {
          if (o < 0 || l < 0 || o + l > disk.length) throw new Error(`read [${o}, +${l}) outside the ${disk.length}-byte disk`);
          return disk.subarray(o, o + l);
        },
      };
      const l = diskLayout(r);
      expect(l.notes.length).toBeGreaterThan(0);
    }), { numRuns: 500 });
  });
});
