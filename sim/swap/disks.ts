import {
  DIGEST_BYTES,
  DeltaPlanner,
  HASH_TYPE_SHA1,
  SECTOR_BYTES,
  SignatureBuilder,
  normalize,
  type HashKind,
  type HashPort,
  type Region,
  type SigEntry,
} from "../../core/image/index.js";
import type { Rng } from "../../core/engine/index.js";

/**
 * Simulated disks with real bytes, small enough for thousands of property runs: blocks of 4 KiB,
 * block 0 holding the allocation bitmap as a file system keeps it on disk. Swap-out runs core's
 * DeltaPlanner against the base's signature; swap-in lays the base's blocks in use, then the
 * delta, over whatever the disk held; the disk is restored when its bitmap and every block in use
 * read back as they were.
 */
export const SIM_BLOCK_BYTES = 4096;
const SECTORS_PER_BLOCK = SIM_BLOCK_BYTES / SECTOR_BYTES;
/** Block 0's bitmap holds one bit per block. */
export const SIM_DISK_BLOCKS_MAX = SIM_BLOCK_BYTES * 8;

/**
 * A deterministic, non-cryptographic hash for the simulator (four 32-bit lanes, widened to the
 * digest's size): collisions do not matter in a model, speed and purity do.
 */
export const simHash: HashPort = {
  create(kind: HashKind) {
    const lanes = new Uint32Array([0x9747b28c, 0x811c9dc5, 0x2545f491, 0x68e31da4]);
    let length = 0;
    return {
      update(data: Uint8Array) {
        for (let i = 0; i < data.length; i++) {
          const lane = (length + i) & 3;
          lanes[lane] = Math.imul((lanes[lane] as number) ^ (data[i] as number), 0x01000193) ^ (i >>> 8);
        }
        length += data.length;
      },
      digest() {
        const out = new Uint8Array(DIGEST_BYTES[kind]);
        let h = length | 0;
        for (let i = 0; i < out.length; i++) {
          h = Math.imul(h ^ (lanes[i & 3] as number), 0x9e3779b1) ^ (h >>> 15);
          out[i] = h & 0xff;
        }
        return out;
      },
    };
  },
};

export class SimDisk {
  constructor(readonly bytes: Uint8Array) {
    if (bytes.length % SIM_BLOCK_BYTES !== 0 || bytes.length / SIM_BLOCK_BYTES > SIM_DISK_BLOCKS_MAX) throw new Error(`SimDisk: ${bytes.length} bytes is not 1 to ${SIM_DISK_BLOCKS_MAX} whole blocks`);
  }

  get blocks(): number {
    return this.bytes.length / SIM_BLOCK_BYTES;
  }

  used(block: number): boolean {
    return block === 0 || (((this.bytes[block >>> 3] as number) >>> (block & 7)) & 1) === 1;
  }

  setUsed(block: number, used: boolean): void {
    if (block === 0) return;
    if (used) this.bytes[block >>> 3]! |= 1 << (block & 7);
    else this.bytes[block >>> 3]! &= ~(1 << (block & 7));
  }

  /** The sectors in use: the bitmap block and every block whose bit is set. */
  inUse(): Region[] {
    const out: Region[] = [];
    for (let b = 0; b < this.blocks; b++) if (this.used(b)) out.push({ startSector: b * SECTORS_PER_BLOCK, sectorCount: SECTORS_PER_BLOCK });
    return normalize(out);
  }

  copy(): SimDisk {
    return new SimDisk(this.bytes.slice());
  }
}

/** A disk with a fraction of its blocks in use, filled from `rng`. */
export function randomDisk(blocks: number, usedFraction: number, rng: Rng): SimDisk {
  const d = new SimDisk(new Uint8Array(blocks * SIM_BLOCK_BYTES));
  for (let b = 1; b < blocks; b++) {
    if (!rng.chance(usedFraction)) continue;
    d.setUsed(b, true);
    fill(d.bytes.subarray(b * SIM_BLOCK_BYTES, (b + 1) * SIM_BLOCK_BYTES), rng);
  }
  return d;
}

function fill(into: Uint8Array, rng: Rng): void {
  const kind = rng.int(3);
  if (kind === 0) into.fill(0); // a block in use can hold zeros
  else if (kind === 1) into.fill(1 + rng.int(255));
  else for (let i = 0; i < into.length; i += 4) into[i] = rng.int(256);
}

/** What a user does between swap-in and swap-out: writes, rewrites parts of blocks, deletes. */
export function editDisk(d: SimDisk, edits: number, rng: Rng): void {
  for (let k = 0; k < edits; k++) {
    const b = 1 + rng.int(d.blocks - 1);
    const what = rng.int(3);
    if (what === 0) d.setUsed(b, false);
    else if (what === 1) {
      d.setUsed(b, true);
      fill(d.bytes.subarray(b * SIM_BLOCK_BYTES, (b + 1) * SIM_BLOCK_BYTES), rng);
    } else {
      // a write of a few sectors, anywhere: it may cut hash pieces or stay inside a free block
      const start = rng.int(d.bytes.length / SECTOR_BYTES);
      const sectors = 1 + rng.int(Math.min(24, d.bytes.length / SECTOR_BYTES - start));
      fill(d.bytes.subarray(start * SECTOR_BYTES, (start + sectors) * SECTOR_BYTES), rng);
    }
  }
}

/** A base image as the signature sees it: its regions (the disk's in-use ranges), hashed. */
export function signatureOf(base: SimDisk): SigEntry[] {
  const b = new SignatureBuilder(simHash, HASH_TYPE_SHA1, "absolute");
  for (const r of base.inUse()) b.region(0, r.startSector, base.bytes.subarray(r.startSector * SECTOR_BYTES, (r.startSector + r.sectorCount) * SECTOR_BYTES));
  return b.entries;
}

export interface SimDelta {
  ranges: Region[];
  dataBytes: number;
}

/** The node's cumulative delta against the base's signature (all of it a file system: no raw areas). */
export function deltaOf(entries: readonly SigEntry[], disk: SimDisk): SimDelta {
  const planner = new DeltaPlanner(entries, HASH_TYPE_SHA1, simHash, []);
  const ranges = planner.window(0, disk.bytes, disk.inUse());
  return { ranges, dataBytes: planner.finish().includedSectors * SECTOR_BYTES };
}

/** Lays ranges of `from` over `target`, as an image's regions are written. */
export function lay(target: SimDisk, from: SimDisk, ranges: readonly Region[]): void {
  for (const r of ranges) target.bytes.set(from.bytes.subarray(r.startSector * SECTOR_BYTES, (r.startSector + r.sectorCount) * SECTOR_BYTES), r.startSector * SECTOR_BYTES);
}

/** Whether `restored` holds `saved`: the same bitmap, and the same bytes in every block in use. */
export function sameDiskState(saved: SimDisk, restored: SimDisk): boolean {
  for (let b = 0; b < saved.blocks; b++) {
    if (saved.used(b) !== restored.used(b)) return false;
    if (!saved.used(b)) continue;
    const a = saved.bytes.subarray(b * SIM_BLOCK_BYTES, (b + 1) * SIM_BLOCK_BYTES);
    const c = restored.bytes.subarray(b * SIM_BLOCK_BYTES, (b + 1) * SIM_BLOCK_BYTES);
    for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) return false;
  }
  return true;
}
