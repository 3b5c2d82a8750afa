// Which job runs where (issue 8): jobs wait in queue order for enough free slots on one sub-node; --backfill lets later ones use slots the head cannot.
import type { JobFeed, FedJob } from './feed.js';
import { SlotSet } from './slots.js';
import { gpusOfSlots, type SubNode } from '../config/hosts.js';
import { GPU_RECHECK_MS, type GpuWatch } from './gpu-watch.js';
import type { Roster } from './roster.js';

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
  /** `slots: auto` sub-nodes: a job goes only on GPUs that nvidia-smi says are free (issue 15). */
  readonly gpus?: GpuWatch;
  /** Why the head job waits for GPUs ("needs 2 free GPUs; node3 has 1"), each time that changes; undefined once it does not. */
  readonly onWaiting?: (waiting: HeadWaiting | undefined) => void;
}

/** The first waiting job and why no GPU sub-node can take it now. */
export interface HeadWaiting {
  readonly job: number;
  readonly reason: string;
}

/** What one sub-node could offer the head job when it last looked. */
interface Room {
  readonly label: string;
  readonly free: number;
  /** Free slots on GPUs that someone else uses. */
  readonly busy: number;
  readonly unit: 'GPU' | 'GPU slot' | 'slot';
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
  /** Counts wake() calls: a loop that was awaiting something else when one came does not park on it (it would never hear it). */
  private wakes = 0;
  private readonly done = new AbortController();
  private recheck: NodeJS.Timeout | undefined;
  private readonly room = new Map<number, Room>();
  private waitingSaid: string | undefined;

  constructor(options: PlacementOptions) {
    this.options = options;
    options.signal?.addEventListener('abort', () => this.wake(), { once: true });
    options.roster.onChange(() => this.wake());
  }

  /** Aborted once the queue is exhausted: every job taken has been placed and the feed has no more. */
  get finished(): AbortSignal {
    return this.done.signal;
  }

  /** The most slots a sub-node whose host is still usable offers (a `slots: auto` one not counted yet may offer any number). */
  private get largest(): number {
    let largest = 0;
    for (const subnode of this.options.roster.subnodes) {
      if (this.options.isDead(subnode.host) || this.options.roster.isLeaving(subnode)) continue;
      largest = Math.max(largest, subnode.gpus && !subnode.gpus.ids ? Number.MAX_SAFE_INTEGER : subnode.slots);
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
      const seen = this.wakes;
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
        await this.parked(seen);
        continue;
      }
      // GPUs someone else uses now are kept out of the choice; they are asked again while a job waits for them.
      const busy = subnode.gpus && this.options.gpus && this.pending.length > 0 ? await this.options.gpus.busySlots(subnode) : undefined;
      if (this.options.signal?.aborted || roster.isLeaving(subnode) || !roster.mayPlace(subnode)) continue;
      const placed = this.place(slots, busy);
      this.noteRoom(subnode, slots, busy);
      if (placed) {
        this.options.gpus?.claim(subnode, gpusOfSlots(subnode, placed.slots), placed.fed.number);
        return placed;
      }
      if (busy && busy.size > 0) this.recheckSoon();
      const head = this.pending[0];
      const wantsMore =
        !this.drained && slots.free > 0 && (head === undefined || (this.options.backfill && this.pending.length < BACKFILL_WINDOW));
      if (wantsMore) {
        this.wanting.set(subnode.index, (this.wanting.get(subnode.index) ?? 0) + 1);
        if (this.fetching < this.wanting.size) this.fetch();
      }
      await this.parked(seen);
      if (wantsMore) {
        const left = (this.wanting.get(subnode.index) ?? 1) - 1;
        if (left > 0) this.wanting.set(subnode.index, left);
        else this.wanting.delete(subnode.index);
      }
    }
  }

  /** Frees a job's slots (however it ended) and lets waiting loops look again. */
  release(subnode: SubNode, slots: readonly number[], job?: number): void {
    this.slotsOf(subnode).release(slots);
    if (job !== undefined) this.options.gpus?.release(subnode, gpusOfSlots(subnode, slots), job);
    this.wake();
  }

  /** A job waits for GPUs that are busy with someone else's work: nvidia-smi is the only one who can say when they are free, so look again soon. */
  private recheckSoon(): void {
    if (this.recheck) return;
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      this.wake();
    }, GPU_RECHECK_MS);
  }

  /** Forgets a sub-node that left the run for good. */
  forget(subnode: SubNode): void {
    this.slots.delete(subnode.index);
    this.room.delete(subnode.index);
  }

  /** Records what a sub-node offers now and says why the head waits, when GPU sub-nodes are involved and that changed. */
  private noteRoom(subnode: SubNode, slots: SlotSet, busy: ReadonlySet<number> | undefined): void {
    const used = slots.occupancy();
    const free = used.filter((u, i) => !u && !busy?.has(i)).length;
    const busyFree = used.filter((u, i) => !u && busy?.has(i)).length;
    const unit = subnode.gpus ? (subnode.gpus.perGpu > 1 ? 'GPU slot' : 'GPU') : 'slot';
    this.room.set(subnode.index, { label: subnode.label, free, busy: busyFree, unit });
    this.sayWaiting();
  }

  private sayWaiting(): void {
    const head = this.pending[0];
    const rooms = [...this.room.values()];
    const gpu = rooms.find((r) => r.unit !== 'slot');
    const waits = head !== undefined && gpu !== undefined && rooms.every((r) => r.free < need(head));
    const reason = waits
      ? `needs ${need(head)} free ${gpu.unit}${need(head) === 1 ? '' : 's'}; ${rooms.map((r) => `${r.label} has ${r.free}${r.busy > 0 ? ` (${r.busy} more busy with other work)` : ''}`).join(', ')}`
      : undefined;
    const said = reason === undefined || head === undefined ? undefined : `${head.number}\n${reason}`;
    if (said === this.waitingSaid) return;
    this.waitingSaid = said;
    this.options.onWaiting?.(reason === undefined || head === undefined ? undefined : { job: head.number, reason });
  }

  /**
   * Waits for the next wake(), unless one came since `seen` (while the loop awaited the GPU query or
   * an unrunnable job's record): the last job can end, and the queue be found drained, in that gap.
   */
  private async parked(seen: number): Promise<void> {
    if (this.wakes !== seen) return;
    await new Promise<void>((resolve) => this.wakers.push(resolve));
  }

  /** Lets waiting loops look again (e.g. a host died, the run is stopping). */
  wake(): void {
    this.wakes += 1;
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  /** Jobs taken from the queue and never started, in queue order (put back at the head when the run ends). */
  leftovers(): FedJob[] {
    clearTimeout(this.recheck);
    const left = this.pending.splice(0);
    this.sayWaiting();
    return left;
  }

  private place(slots: SlotSet, busy?: ReadonlySet<number>): Placed | undefined {
    const head = this.pending[0];
    if (!head) return undefined;
    const at = slots.find(need(head), policyOf(head), busy);
    if (at) return this.start(0, slots, at);
    if (!this.options.backfill) return undefined;
    // Keep out of the block the head waits for here (if it can ever fit here).
    const held = new Set([...slots.reserveFor(need(head), policyOf(head)), ...(busy ?? [])]);
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
