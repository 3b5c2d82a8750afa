// The numbered slots of a sub-node (e.g. its GPUs) and how a job gets some: first_fit or buddy blocks (issue 8).

import { isPowerOfTwo, type AllocationPolicy } from '../config/jobs.js';

/** Slots 0..size-1 of one sub-node; which are in use. */
export class SlotSet {
  readonly size: number;
  private readonly used: boolean[];
  private inUse = 0;

  constructor(size: number) {
    this.size = size;
    this.used = Array.from({ length: size }, () => false);
  }

  get free(): number {
    return this.size - this.inUse;
  }

  /** Which slots are taken now, for the panel and status (`▮▮▯▯`). */
  occupancy(): readonly boolean[] {
    return [...this.used];
  }

  /**
   * The slots a job needing `count` would get now, without taking them; undefined if it does not
   * fit. `avoid`: slots not to use (held for a waiting job, see reserveFor).
   */
  find(count: number, policy: AllocationPolicy, avoid?: ReadonlySet<number>): number[] | undefined {
    if (count < 1 || count > this.free) return undefined;
    const free = (start: number, n: number): boolean => {
      for (let i = start; i < start + n; i++) if (this.used[i] || avoid?.has(i)) return false;
      return true;
    };
    if (policy === 'buddy') {
      if (!isPowerOfTwo(count)) return undefined;
      for (let start = 0; start + count <= this.size; start += count) if (free(start, count)) return range(start, count);
      return undefined;
    }
    // first_fit: an even-aligned contiguous block (keeps pairs and larger blocks whole), then any
    // contiguous block, then any free slots.
    if (count > 1) for (let start = 0; start + count <= this.size; start += 2) if (free(start, count)) return range(start, count);
    for (let start = 0; start + count <= this.size; start++) if (free(start, count)) return range(start, count);
    const any: number[] = [];
    for (let i = 0; i < this.size && any.length < count; i++) if (free(i, 1)) any.push(i);
    return any.length === count ? any : undefined;
  }

  /**
   * For --backfill: the block a waiting job of `count` slots will most likely get here (the
   * candidate block with the most free slots now, so the fewest running jobs to wait for).
   * Backfilled jobs keep out of it, so they cannot delay that job on this sub-node.
   */
  reserveFor(count: number, policy: AllocationPolicy): ReadonlySet<number> {
    if (count > this.size) return new Set();
    const step = policy === 'buddy' ? count : count > 1 ? 2 : 1;
    let best = 0;
    let bestFree = -1;
    for (let start = 0; start + count <= this.size; start += step) {
      let n = 0;
      for (let i = start; i < start + count; i++) if (!this.used[i]) n++;
      if (n > bestFree) {
        best = start;
        bestFree = n;
      }
    }
    return new Set(range(best, count));
  }

  /** Takes the slots `find` chose. */
  take(slots: readonly number[]): void {
    for (const i of slots) {
      if (this.used[i]) throw new Error(`slot ${i} is already in use`);
      this.used[i] = true;
    }
    this.inUse += slots.length;
  }

  /** Frees slots when their job ends, however it ends. */
  release(slots: readonly number[]): void {
    for (const i of slots) {
      if (!this.used[i]) continue;
      this.used[i] = false;
      this.inUse -= 1;
    }
  }

}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}
