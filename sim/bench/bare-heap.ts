/**
 * The baseline for `testbed bench engine`: a bare binary heap of (time, seq) keys on typed arrays,
 * with no slots, handlers, cancellation or trace. It is what the engine's queue would be if it did
 * nothing but order numbers.
 */
export class BareHeap {
  private times: Float64Array;
  private seqs: Float64Array;
  size = 0;

  constructor(capacity: number) {
    this.times = new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
  }

  push(time: number, seq: number): void {
    if (this.size === this.times.length) this.growTo(this.size * 2);
    const times = this.times;
    const seqs = this.seqs;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent] as number;
      if (pt < time || (pt === time && (seqs[parent] as number) < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[parent] as number;
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
  }

  /** Removes the least key and returns its time; the heap must not be empty. */
  pop(): number {
    const times = this.times;
    const seqs = this.seqs;
    const top = times[0] as number;
    const size = --this.size;
    if (size === 0) return top;
    const time = times[size] as number;
    const seq = seqs[size] as number;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      const right = child + 1;
      if (right < size) {
        const lt = times[child] as number;
        const rt = times[right] as number;
        if (rt < lt || (rt === lt && (seqs[right] as number) < (seqs[child] as number))) child = right;
      }
      const ct = times[child] as number;
      if (time < ct || (time === ct && seq < (seqs[child] as number))) break;
      times[i] = ct;
      seqs[i] = seqs[child] as number;
      i = child;
    }
    times[i] = time;
    seqs[i] = seq;
    return top;
  }

  private growTo(capacity: number): void {
    const times = new Float64Array(capacity);
    const seqs = new Float64Array(capacity);
    times.set(this.times);
    seqs.set(this.seqs);
    this.times = times;
    this.seqs = seqs;
  }
}
