import type { Region } from "./format.js";

/**
 * Set operations on sector ranges. Every list here is sorted, non-overlapping and without empty
 * ranges ("normal"); every result is normal and merges touching ranges.
 */

const endOf = (r: Region): number => r.startSector + r.sectorCount;

/** Sorts and merges any list of ranges into a normal one. */
export function normalize(ranges: readonly Region[]): Region[] {
  const sorted = ranges.filter((r) => r.sectorCount > 0).sort((a, b) => a.startSector - b.startSector || a.sectorCount - b.sectorCount);
  const out: Region[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.startSector <= endOf(last)) last.sectorCount = Math.max(endOf(last), endOf(r)) - last.startSector;
    else out.push({ startSector: r.startSector, sectorCount: r.sectorCount });
  }
  return out;
}

/** Appends a range to a normal list built in order, merging with the last when they touch. */
export function pushRange(out: Region[], startSector: number, sectorCount: number): void {
  if (sectorCount <= 0) return;
  const last = out[out.length - 1];
  if (last !== undefined && endOf(last) >= startSector) {
    if (startSector < last.startSector) throw new Error(`pushRange: ${startSector} is before ${last.startSector}`);
    last.sectorCount = Math.max(endOf(last), startSector + sectorCount) - last.startSector;
  } else out.push({ startSector, sectorCount });
}

export function union(a: readonly Region[], b: readonly Region[]): Region[] {
  const out: Region[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const takeA = j >= b.length || (i < a.length && a[i]!.startSector <= b[j]!.startSector);
    const r = takeA ? a[i++]! : b[j++]!;
    pushRange(out, r.startSector, r.sectorCount);
  }
  return out;
}

export function intersect(a: readonly Region[], b: readonly Region[]): Region[] {
  const out: Region[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    const start = Math.max(x.startSector, y.startSector);
    const end = Math.min(endOf(x), endOf(y));
    if (end > start) pushRange(out, start, end - start);
    if (endOf(x) < endOf(y)) i++;
    else j++;
  }
  return out;
}

/** `a` without `b`. */
export function subtract(a: readonly Region[], b: readonly Region[]): Region[] {
  const out: Region[] = [];
  let j = 0;
  for (const x of a) {
    let at = x.startSector;
    const end = endOf(x);
    while (j < b.length && endOf(b[j]!) <= at) j++;
    let k = j;
    while (k < b.length && b[k]!.startSector < end) {
      const y = b[k]!;
      if (y.startSector > at) pushRange(out, at, y.startSector - at);
      at = Math.max(at, endOf(y));
      k++;
    }
    if (end > at) pushRange(out, at, end - at);
  }
  return out;
}

export function totalSectors(ranges: readonly Region[]): number {
  let n = 0;
  for (const r of ranges) n += r.sectorCount;
  return n;
}

/** Index of the first range of a normal list that ends after `sector` (binary search). */
export function firstEndingAfter(ranges: readonly Region[], sector: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (endOf(ranges[mid]!) <= sector) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The part of a normal list inside [startSector, endSector), clipped; O(log n + hits). */
export function clip(ranges: readonly Region[], startSector: number, endSector: number): Region[] {
  const out: Region[] = [];
  for (let i = firstEndingAfter(ranges, startSector); i < ranges.length && ranges[i]!.startSector < endSector; i++) {
    const r = ranges[i]!;
    const s = Math.max(r.startSector, startSector);
    pushRange(out, s, Math.min(endOf(r), endSector) - s);
  }
  return out;
}

/** Whether `inner` lies wholly inside the normal list `ranges`. */
export function covers(ranges: readonly Region[], inner: Region): boolean {
  const hit = intersect(ranges, [inner]);
  return hit.length === 1 && hit[0]!.sectorCount === inner.sectorCount;
}
