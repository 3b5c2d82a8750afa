// How a run's jobs ended and when it is idle (issue 16), folded from its events: for `pegasus wait` and the on_idle hook.
import { describeOutcome, succeeded } from '../exec/types.js';
import type { RunEvent } from './events.js';

/** How one job ended, after its last attempt. */
export interface JobEnd {
  readonly number: number;
  readonly ok: boolean;
  /** "exit 3", "timed out", "killed", … */
  readonly outcome: string;
}

/** The answer to one `pegasus wait`. */
export interface WaitAnswer {
  readonly ended: readonly JobEnd[];
  /** Jobs waited for that had not ended when the run did. */
  readonly unfinished: readonly number[];
  /** The run ended before what was waited for happened (it was stopped, or no host was left). */
  readonly runEnded: boolean;
}

interface Waiter {
  /** The jobs waited for; undefined: the queue (until the run is idle). */
  readonly jobs?: readonly number[];
  /** Queue waits: the jobs that count (running when it began, or numbered after). */
  readonly counts: (n: number) => boolean;
  readonly resolve: (answer: WaitAnswer) => void;
}

export class RunTally {
  /** Job numbers running now, by attempt id. */
  private readonly running = new Map<number, number>();
  private readonly ends = new EndedJobs();
  private highest = 0;
  /** The queue file was found empty (daemon: waiting for entries) and no job was taken since. */
  private queueEmpty = false;
  private idleSaid = false;
  private waiters: Waiter[] = [];
  private readonly idleListeners: (() => void)[] = [];

  /** Consumes run events. */
  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'job-started':
        this.queueEmpty = false;
        this.idleSaid = false;
        if (event.number !== undefined) {
          this.running.set(event.id, event.number);
          this.highest = Math.max(this.highest, event.number);
        }
        return;
      case 'job-finished': {
        const number = this.running.get(event.id);
        this.running.delete(event.id);
        // An attempt that will be tried again, or a job put back in the queue, has not ended.
        if (number !== undefined && !event.retrying && !event.requeued) {
          this.ends.set({ number, ok: succeeded(event.result), outcome: describeOutcome(event.result) });
        }
        this.settle();
        return;
      }
      case 'queue-idle':
        this.queueEmpty = true;
        this.settle();
        return;
      default:
    }
  };

  /** Calls `listener` each time the run becomes idle: the queue is empty and nothing runs. */
  onIdle(listener: () => void): void {
    this.idleListeners.push(listener);
  }

  /** The run has ended by itself with the queue done (not daemon): idle for good. */
  finishedQueue(): void {
    this.queueEmpty = true;
    this.settle();
  }

  /** Whether job `n` is known to this run (running or ended). */
  knows(n: number): boolean {
    return this.ends.has(n) || [...this.running.values()].includes(n);
  }

  /**
   * Resolves once those jobs have ended (or, without jobs, once the run is idle), or the run ends.
   * `queued`: entries in the queue file now: a run that looked idle is not, until it has taken them.
   */
  wait(jobs?: readonly number[], queued = 0): Promise<WaitAnswer> {
    if (!jobs && queued > 0) {
      this.queueEmpty = false;
      this.idleSaid = false;
    }
    return new Promise((resolve) => {
      const running = new Set(this.running.values());
      const highest = this.highest;
      this.waiters.push({ ...(jobs ? { jobs } : {}), counts: (n) => running.has(n) || n > highest, resolve });
      this.settle();
    });
  }

  /** The run is over: every wait is answered with what happened. */
  end(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve(this.answer(waiter, !this.met(waiter)));
  }

  private get idle(): boolean {
    return this.queueEmpty && this.running.size === 0;
  }

  private met(waiter: Waiter): boolean {
    return waiter.jobs ? waiter.jobs.every((n) => this.ends.has(n)) : this.idle;
  }

  private answer(waiter: Waiter, runEnded: boolean): WaitAnswer {
    const wanted = waiter.jobs ?? this.ends.numbers().filter(waiter.counts);
    return {
      ended: wanted.flatMap((n) => this.ends.get(n) ?? []),
      unfinished: (waiter.jobs ?? []).filter((n) => !this.ends.has(n)),
      runEnded,
    };
  }

  private settle(): void {
    const still: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (this.met(waiter)) waiter.resolve(this.answer(waiter, false));
      else still.push(waiter);
    }
    this.waiters = still;
    if (this.idle && !this.idleSaid) {
      this.idleSaid = true;
      for (const listener of this.idleListeners) listener();
    }
  }
}

/** How a job that succeeded ended ("exit 0"): the only outcome of a success. */
const OK_OUTCOME = describeOutcome({ exitCode: 0, signal: null, durationMs: 0, cancelled: false });

/**
 * Every job's end, for a `pegasus wait` of any job however long ago it ended. A daemon runs for
 * weeks (issue 17): a success is one bit (by job number, which counts up from 1), and only the
 * other ends are kept in full; an object per success was ~100 bytes a job for the run's life.
 */
class EndedJobs {
  private okBits = new Uint8Array(1024);
  private readonly others = new Map<number, JobEnd>();
  private highest = 0;

  set(end: JobEnd): void {
    const n = end.number;
    this.highest = Math.max(this.highest, n);
    if (end.ok && end.outcome === OK_OUTCOME) {
      if (n >> 3 >= this.okBits.length) {
        const grown = new Uint8Array(Math.max(this.okBits.length * 2, (n >> 3) + 1));
        grown.set(this.okBits);
        this.okBits = grown;
      }
      this.okBits[n >> 3]! |= 1 << (n & 7);
      this.others.delete(n);
    } else {
      this.clearOk(n);
      this.others.set(n, end);
    }
  }

  has(n: number): boolean {
    return this.isOk(n) || this.others.has(n);
  }

  get(n: number): JobEnd | undefined {
    return this.isOk(n) ? { number: n, ok: true, outcome: OK_OUTCOME } : this.others.get(n);
  }

  /** The numbers of the jobs that ended, in order. */
  numbers(): number[] {
    const out: number[] = [];
    for (let n = 1; n <= this.highest; n++) if (this.has(n)) out.push(n);
    return out;
  }

  private isOk(n: number): boolean {
    return n >= 0 && n >> 3 < this.okBits.length && (this.okBits[n >> 3]! & (1 << (n & 7))) !== 0;
  }

  private clearOk(n: number): void {
    if (n >> 3 < this.okBits.length) this.okBits[n >> 3]! &= ~(1 << (n & 7));
  }
}
