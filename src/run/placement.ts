// Which job runs where (issue 8): jobs wait in queue order for enough free slots on one sub-node; --backfill lets later ones use slots the head cannot.
import { type SubNode } from '../config/hosts.js';
import { type JobFeed, type FedJob } from './feed.js';
import { SlotSet } from './slots.js';
import { type Roster } from './roster.js';

/** How far past a waiting head --backfill looks (jobs taken from the queue file and held in memory). */
const BACKFILL_WINDOW = 16;

/** A job given a sub-node and slots on it. */
export interface Placed {
  readonly fed: FedJob;
  readonly slots: readonly number[];
}

export interface PlacementOptions {
  /** The run's sub-nodes as they change; paused ones start nothing, leaving ones (drained, removed) end their loops (issue 14). */
  readonly roster: Roster;
  readonly feed: JobFeed;
  readonly backfill: boolean;
  /** Sub-nodes of dead hosts take nothing. */
  readonly isDead: (host: string) => boolean;
  /** A job needing more slots than any sub-node has: reported, and the queue goes on. */
  readonly onUnrunnable: (fed: FedJob, largest: number) => Promise<void>;
  readonly signal?: AbortSignal;
}

const need = (fed: FedJob): number => fed.job.slots ?? 1;
const policyOf = (fed: FedJob) => fed.job.allocationPolicy ?? 'first_fit';

/**
 * Hands jobs to the loops of each sub-node (one loop per slot). Jobs are taken from the feed in the
 * background, by as many fetches as sub-nodes want work (one each) (the feed serves concurrent fetches with one
 * take), and kept in queue order until placed. FIFO: only the first waiting job may start; with
 * backfill, a later one may start on a sub-node where the first does not fit now, outside the
 * block that the first is waiting for there.
 */
export class Placement {
  private readonly options: PlacementOptions;
  private readonly pending: FedJob[] = [];
  private readonly slots = new Map<number, SlotSet>();
  private fetching = 0;
  private failure: unknown;
  /** Loops that want a job fetched, by sub-node: one fetch at a time per sub-node, so a box with many slots does not empty the queue file into memory. */
  private readonly wanting = new Map<number, number>();
  private drained = false;
  private wakers: (() => void)[] = [];
  private readonly done = new AbortController();

  constructor(options: PlacementOptions) {
    this.options = options;
    options.signal?.addEventListener('abort', () => this.wake(), { once: true });
    options.roster.onChange(() => this.wake());
  }

  /** Aborted once the queue is exhausted: every job taken has been placed and the feed has no more. */
  get finished(): AbortSignal {
    return this.done.signal;
  }

  /** The most slots a sub-node whose host is still usable offers. */
  private get largest(): number {
    let largest = 0;
    for (const subnode of this.options.roster.subnodes) {
      if (!this.options.isDead(subnode.host) && !this.options.roster.isLeaving(subnode)) largest = Math.max(largest, subnode.slots);
    }
    return largest;
  }

  /** The slot set of a sub-node (for the panel and tests). */
  slotsOf(subnode: SubNode): SlotSet {
    let slots = this.slots.get(subnode.index);
    if (!slots) {
      slots = new SlotSet(subnode.slots);
      this.slots.set(subnode.index, slots);
    }
    return slots;
  }

  /** The next job for a loop of `subnode`, with its slots taken; undefined when the loop should end. */
  async next(subnode: SubNode): Promise<Placed | undefined> {
    const slots = this.slotsOf(subnode);
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const { roster } = this.options;
      if (this.options.signal?.aborted || this.options.isDead(subnode.host) || roster.isLeaving(subnode)) return undefined;
      // Jobs no sub-node can ever hold are reported and skipped.
      while (this.pending[0] && need(this.pending[0]) > this.largest) {
        const fed = this.pending.shift() as FedJob;
        await this.options.onUnrunnable(fed, this.largest);
        this.checkFinished();
      }
      // The queue is done: paused loops end too.
      if (this.drained && this.pending.length === 0) return undefined;
      if (!roster.mayPlace(subnode)) {
        await new Promise<void>((resolve) => this.wakers.push(resolve));
        continue;
      }
      const placed = this.place(slots);
      if (placed) return placed;
      const head = this.pending[0];
      const wantsMore =
        !this.drained && slots.free > 0 && (head === undefined || (this.options.backfill && this.pending.length < BACKFILL_WINDOW));
      if (wantsMore) {
        this.wanting.set(subnode.index, (this.wanting.get(subnode.index) ?? 0) + 1);
        if (this.fetching < this.wanting.size) this.fetch();
      }
      await new Promise<void>((resolve) => this.wakers.push(resolve));
      if (wantsMore) {
        const left = (this.wanting.get(subnode.index) ?? 1) - 1;
        if (left > 0) this.wanting.set(subnode.index, left);
        else this.wanting.delete(subnode.index);
      }
    }
  }

  /** Frees a job's slots (however it ended) and lets waiting loops look again. */
  release(subnode: SubNode, slots: readonly number[]): void {
    this.slotsOf(subnode).release(slots);
    this.wake();
  }

  /** Forgets a sub-node that left the run for good. */
  forget(subnode: SubNode): void {
    this.slots.delete(subnode.index);
  }

  /** Lets waiting loops look again (e.g. a host died, the run is stopping). */
  wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  /** Jobs taken from the queue and never started, in queue order (put back at the head when the run ends). */
  leftovers(): FedJob[] {
    return this.pending.splice(0);
  }

  private place(slots: SlotSet): Placed | undefined {
    const head = this.pending[0];
    if (!head) return undefined;
    const at = slots.find(need(head), policyOf(head));
    if (at) return this.start(0, slots, at);
    if (!this.options.backfill) return undefined;
    // Keep out of the block the head waits for here (if it can ever fit here).
    const held = slots.reserveFor(need(head), policyOf(head));
    for (let i = 1; i < this.pending.length; i++) {
      const fed = this.pending[i] as FedJob;
      const fit = slots.find(need(fed), policyOf(fed), held);
      if (fit) return this.start(i, slots, fit);
    }
    return undefined;
  }

  private start(index: number, slots: SlotSet, at: number[]): Placed {
    const [fed] = this.pending.splice(index, 1);
    slots.take(at);
    this.checkFinished();
    return { fed: fed as FedJob, slots: at };
  }

  private checkFinished(): void {
    if (this.drained && this.pending.length === 0) this.done.abort();
  }

  /** One fetch from the feed in the background; its job joins the waiting ones in queue order. */
  private fetch(): void {
    this.fetching += 1;
    void this.options.feed.next().then(
      (fed) => {
        this.fetching -= 1;
        if (fed) this.pending.push(fed);
        else this.drained = true;
        this.checkFinished();
        this.wake();
      },
      (error: unknown) => {
        this.fetching -= 1;
        this.failure = error;
        this.wake();
      },
    );
  }
}
