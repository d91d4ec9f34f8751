/**
 * A binary min-heap of entry ids keyed by a time, ties broken by id, in growable typed arrays. Each
 * entry sits in at most one heap at a time, so all heaps share one `pos` array (position + 1, or
 * 0 when the entry is in no heap) and any entry can be removed in O(log n).
 */
export class EntryHeap {
  private keys: Float64Array;
  private ids: Int32Array;
  size = 0;

  constructor(
    private readonly pos: Int32Array,
    private readonly capacityMax: number,
    capacityInitial = 16,
  ) {
    const initial = Math.min(capacityInitial, capacityMax);
    this.keys = new Float64Array(initial);
    this.ids = new Int32Array(initial);
  }

  topKey(): number {
    return this.size === 0 ? Infinity : (this.keys[0] as number);
  }

  has(id: number): boolean {
    return (this.pos[id] as number) > 0;
  }

  push(id: number, key: number): void {
    if ((this.pos[id] as number) !== 0) throw new Error(`entry ${id} is already in a heap`);
    if (this.size === this.keys.length) this.grow();
    this.place(this.size, id, key);
    this.size++;
    this.up(this.size - 1);
  }

  pop(): number {
    const id = this.ids[0] as number;
    this.removeAt(0);
    return id;
  }

  remove(id: number): void {
    const at = (this.pos[id] as number) - 1;
    if (at < 0 || this.ids[at] !== id) throw new Error(`entry ${id} is not in this heap`);
    this.removeAt(at);
  }

  private removeAt(at: number): void {
    const id = this.ids[at] as number;
    this.pos[id] = 0;
    this.size--;
    if (at === this.size) return;
    this.place(at, this.ids[this.size] as number, this.keys[this.size] as number);
    this.down(at);
    this.up(at);
  }

  private grow(): void {
    if (this.keys.length >= this.capacityMax) throw new Error(`heap full at its limit of ${this.capacityMax} entries`);
    const capacity = Math.min(this.capacityMax, this.keys.length * 2);
    const keys = new Float64Array(capacity);
    keys.set(this.keys);
    const ids = new Int32Array(capacity);
    ids.set(this.ids);
    this.keys = keys;
    this.ids = ids;
  }

  private place(at: number, id: number, key: number): void {
    this.keys[at] = key;
    this.ids[at] = id;
    this.pos[id] = at + 1;
  }

  /* Sifts move a hole rather than swapping, so each level costs one write of key, id and pos. */

  private up(at: number): void {
    const keys = this.keys;
    const ids = this.ids;
    const key = keys[at] as number;
    const id = ids[at] as number;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const pk = keys[parent] as number;
      if (pk < key || (pk === key && (ids[parent] as number) < id)) break;
      this.place(at, ids[parent] as number, pk);
      at = parent;
    }
    this.place(at, id, key);
  }

  private down(at: number): void {
    const keys = this.keys;
    const ids = this.ids;
    const size = this.size;
    const key = keys[at] as number;
    const id = ids[at] as number;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= size) break;
      let ck = keys[child] as number;
      const right = child + 1;
      if (right < size) {
        const rk = keys[right] as number;
        if (rk < ck || (rk === ck && (ids[right] as number) < (ids[child] as number))) {
          child = right;
          ck = rk;
        }
      }
      if (key < ck || (key === ck && id < (ids[child] as number))) break;
      this.place(at, ids[child] as number, ck);
      at = child;
    }
    this.place(at, id, key);
  }
}
