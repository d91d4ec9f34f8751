import type Database from "better-sqlite3";
import { openStoreConnection } from "./connection.js";
import { guard } from "./errors.js";

/**
 * Disk state in the store: the images nodes load (by content digest, each with at most one
 * signature shared by every node that loaded it), the deltas saved at swap-out, and per node and
 * partition which image it holds and which delta it carries (one, cumulative, never a chain).
 */
export interface DiskImageRow {
  readonly digest: string;
  readonly imageId: string;
  readonly path: string;
  readonly bytes: number;
  readonly signature: string | null;
  readonly createdAt: string;
}

export interface DiskDeltaRow {
  readonly path: string;
  readonly digest: string;
  readonly base: string;
  readonly kind: "delta" | "full";
  readonly deltaId: string;
  readonly bytes: number;
  readonly dataBytes: number;
  readonly createdAt: string;
}

export interface NodeDiskRow {
  readonly node: string;
  readonly partition: number;
  readonly image: string;
  readonly delta: string | null;
  readonly loadedAt: string;
  readonly savedAt: string | null;
}

/** What `gc` found unreferenced (and removed, unless it was a dry run). */
export interface UnreferencedFiles {
  readonly signatures: { image: string; path: string }[];
  readonly deltas: { path: string; bytes: number }[];
}

/** Most rows one listing returns. */
export const NODE_DISKS_LIST_MAX = 100_000;

export class DiskImageStore {
  private readonly s;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.s = guard(path, "prepare disk image statements", () => ({
      image: db.prepare<[string]>("SELECT digest, image_id, path, bytes, signature, created_at FROM disk_images WHERE digest = ?"),
      addImage: db.prepare("INSERT INTO disk_images (digest, image_id, path, bytes, signature, created_at) VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (digest) DO UPDATE SET path = excluded.path"),
      setSignature: db.prepare("UPDATE disk_images SET signature = ? WHERE digest = ?"),
      delta: db.prepare<[string]>("SELECT path, digest, base, kind, delta_id, bytes, data_bytes, created_at FROM disk_deltas WHERE path = ?"),
      addDelta: db.prepare("INSERT INTO disk_deltas (path, digest, base, kind, delta_id, bytes, data_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, base = excluded.base, kind = excluded.kind, delta_id = excluded.delta_id, bytes = excluded.bytes, data_bytes = excluded.data_bytes, created_at = excluded.created_at"),
      nodeDisk: db.prepare<[string, number]>("SELECT node, partition, image, delta, loaded_at, saved_at FROM node_disks WHERE node = ? AND partition = ?"),
      nodeDisks: db.prepare<[number]>("SELECT node, partition, image, delta, loaded_at, saved_at FROM node_disks ORDER BY node, partition LIMIT ?"),
      load: db.prepare("INSERT INTO node_disks (node, partition, image, delta, loaded_at, saved_at) VALUES (?, ?, ?, NULL, ?, NULL) ON CONFLICT (node, partition) DO UPDATE SET image = excluded.image, delta = NULL, loaded_at = excluded.loaded_at, saved_at = NULL"),
      save: db.prepare("UPDATE node_disks SET delta = ?, saved_at = ? WHERE node = ? AND partition = ?"),
      unusedSignatures: db.prepare("SELECT digest, signature FROM disk_images WHERE signature IS NOT NULL AND digest NOT IN (SELECT image FROM node_disks)"),
      // An experiment's partitions table may name a delta too (its swap-out records it there).
      unusedDeltas: db.prepare("SELECT path, bytes FROM disk_deltas WHERE path NOT IN (SELECT delta FROM node_disks WHERE delta IS NOT NULL) AND path NOT IN (SELECT delta FROM partitions WHERE delta IS NOT NULL)"),
      dropDelta: db.prepare("DELETE FROM disk_deltas WHERE path = ?"),
    }));
  }

  image(digest: string): DiskImageRow | undefined {
    const r = guard(this.path, "read a disk image", () => this.s.image.get(digest)) as Record<string, unknown> | undefined;
    return r === undefined ? undefined : { digest: r.digest as string, imageId: r.image_id as string, path: r.path as string, bytes: r.bytes as number, signature: (r.signature as string | null) ?? null, createdAt: r.created_at as string };
  }

  /** Records an image by its digest (its path is updated if it moved). */
  addImage(row: Pick<DiskImageRow, "digest" | "imageId" | "path" | "bytes">): void {
    guard(this.path, "record a disk image", () => this.s.addImage.run(row.digest, row.imageId, row.path, row.bytes, new Date().toISOString()));
  }

  setSignature(digest: string, signaturePath: string | null): void {
    guard(this.path, "record a signature", () => this.s.setSignature.run(signaturePath, digest));
  }

  delta(path: string): DiskDeltaRow | undefined {
    const r = guard(this.path, "read a delta", () => this.s.delta.get(path)) as Record<string, unknown> | undefined;
    if (r === undefined) return undefined;
    return { path: r.path as string, digest: r.digest as string, base: r.base as string, kind: r.kind as "delta" | "full", deltaId: r.delta_id as string, bytes: r.bytes as number, dataBytes: r.data_bytes as number, createdAt: r.created_at as string };
  }

  nodeDisk(node: string, partition: number): NodeDiskRow | undefined {
    const r = guard(this.path, "read a node's disk", () => this.s.nodeDisk.get(node, partition)) as Record<string, unknown> | undefined;
    return r === undefined ? undefined : nodeDiskRow(r);
  }

  nodeDisks(): NodeDiskRow[] {
    return (guard(this.path, "list node disks", () => this.s.nodeDisks.all(NODE_DISKS_LIST_MAX)) as Record<string, unknown>[]).map(nodeDiskRow);
  }

  /** The node's partition now holds this image, as loaded: any delta it carried is no longer its state. */
  recordLoad(node: string, partition: number, imageDigest: string): void {
    guard(this.path, "record a load", () => this.s.load.run(node, partition, imageDigest, new Date().toISOString()));
  }

  /** Records a delta and makes it the node's one delta, in one transaction. */
  recordSave(node: string, partition: number, d: Omit<DiskDeltaRow, "createdAt">): void {
    const now = new Date().toISOString();
    guard(this.path, "record a delta", () =>
      this.db.transaction(() => {
        this.s.addDelta.run(d.path, d.digest, d.base, d.kind, d.deltaId, d.bytes, d.dataBytes, now);
        if (this.s.save.run(d.path, now, node, partition).changes !== 1) throw new Error(`recordSave: ${node} partition ${partition} has no loaded image`);
      }).immediate(),
    );
  }

  /** Signatures of images no node holds, and deltas no node (and no experiment's partition) carries. */
  unreferenced(): UnreferencedFiles {
    return guard(this.path, "find unreferenced signatures and deltas", () => ({
      signatures: (this.s.unusedSignatures.all() as { digest: string; signature: string }[]).map((r) => ({ image: r.digest, path: r.signature })),
      deltas: this.s.unusedDeltas.all() as { path: string; bytes: number }[],
    }));
  }

  /** Forgets a signature or delta whose file is gone; in one transaction each, re-checked, so a file that became referenced meanwhile stays. */
  forgetSignature(imageDigest: string, signaturePath: string): boolean {
    return guard(this.path, "forget a signature", () =>
      this.db.transaction(() => {
        const still = (this.s.unusedSignatures.all() as { digest: string; signature: string }[]).some((r) => r.digest === imageDigest && r.signature === signaturePath);
        if (still) this.s.setSignature.run(null, imageDigest);
        return still;
      }).immediate(),
    );
  }

  forgetDelta(path: string): boolean {
    return guard(this.path, "forget a delta", () =>
      this.db.transaction(() => {
        const still = (this.s.unusedDeltas.all() as { path: string }[]).some((r) => r.path === path);
        if (still) this.s.dropDelta.run(path);
        return still;
      }).immediate(),
    );
  }

  close(): void {
    this.db.close();
  }
}

function nodeDiskRow(r: Record<string, unknown>): NodeDiskRow {
  return { node: r.node as string, partition: r.partition as number, image: r.image as string, delta: (r.delta as string | null) ?? null, loadedAt: r.loaded_at as string, savedAt: (r.saved_at as string | null) ?? null };
}

export function openDiskImageStore(path: string, options: { mustExist?: boolean } = {}): DiskImageStore {
  return new DiskImageStore(openStoreConnection(path, options), path);
}
