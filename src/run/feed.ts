// Where the modes get their next job: the head of the queue, and in daemon mode the wait for the file to change.
import { setTimeout as delay } from 'node:timers/promises';
import type { Job } from '../config/jobs.js';
import { FileError, type ConfigError } from '../errors.js';
import type { QueueStore, Taken } from '../queue/store.js';
import type { QueueWatcher } from '../queue/watch.js';
import type { RunEvent } from './events.js';
import type { WriteFaults } from './faults.js';
import type { Steering } from './steering.js';
import type { ExecResult } from '../exec/types.js';
import type { Journal } from './journal.js';

/** The journal's record of a job that ends without having run (skipped, or put back). */
export const NOT_RUN: ExecResult = { exitCode: null, signal: null, durationMs: 0, cancelled: false };

/** The modes' `giveBack`: jobs go back to the head of the queue file as jobs put back do, journal included. */
export function giveBackTo(store: QueueStore, faults: WriteFaults, journal: Journal | undefined): (jobs: readonly Job[]) => Promise<boolean> {
  return async (jobs) => {
    if (!(await faults.attempt(() => store.giveBack(jobs)))) return false;
    for (const job of jobs) await faults.attempt(() => journal?.finished(job, NOT_RUN, true));
    return true;
  };
}

/** A half-saved file gets this long to become valid before the daemon reports it as malformed. */
const SETTLE_MS = 300;

/**
 * Read-ahead for short jobs (issue 17): a take brings this much predicted work (from the recent
 * jobs' durations) beyond what the asking sub-nodes need, so a sub-node whose job ends finds the
 * next one in hand instead of waiting for the lock and three fsyncs; once fewer than half of that are
 * left, the next take starts in the background. Jobs of READ_AHEAD_MS or longer get none: the queue
 * file then behaves exactly as "pop when a sub-node is free". 100 rather than 50 ms means half the
 * takes for jobs of a few ms, whose CPU competes with the jobs themselves: 200 x `true` on one
 * sub-node 2.41 -> 2.30 s (medians of 8, taking turns, on a 2-core VM).
 */
export const READ_AHEAD_MS = msFromEnv(process.env.PEGASUS_READ_AHEAD_MS, 100);
/**
 * At most this many jobs are read ahead. Each take costs a lock and three fsyncs, which (before takes
 * were refilled in the background) lay on the path from one job's end to the next one's start, so
 * for jobs of a millisecond a larger batch was a real share of the run: 64 rather than 16 took 200 x `true` on one sub-node from 576 to 545 ms and 400 on eight
 * from 676 to 622 ms (medians of 11 and 7, taking turns). It is also how many jobs a SIGKILLed run can
 * leave taken and not started (reported by the next run, put back by --requeue-interrupted).
 */
const READ_AHEAD_MAX = 64;
/**
 * A job read ahead that no sub-node took within this long goes back to the head of the queue file
 * (five times the read-ahead: what is read ahead is expected to start within READ_AHEAD_MS).
 * PEGASUS_READ_AHEAD_MS and PEGASUS_HOLD_MS override both (the tests use them to make the read-ahead certain).
 */
export const HOLD_MS = msFromEnv(process.env.PEGASUS_HOLD_MS, 500);

function msFromEnv(text: string | undefined, fallback: number): number {
  const value = text === undefined || text === '' ? NaN : Number(text);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
}

export interface FeedOptions {
  readonly store: QueueStore;
  /** Present in daemon mode: an empty or broken queue is waited out instead of ending the run. */
  readonly watcher?: QueueWatcher;
  readonly emit: (event: RunEvent) => void;
  readonly signal?: AbortSignal;
  /** Where a take that cannot write the queue's files is recorded (it ends the taking, not the run). */
  readonly faults?: WriteFaults;
  /** `pegasus pause`: nothing is taken from the queue file while the run is paused (retries still go out). */
  readonly steering?: Steering;
  /**
   * Present to read ahead for short jobs: puts jobs read ahead and not taken in time back at the head
   * of the queue file; false when they could not go back (they are then kept and run).
   */
  readonly giveBack?: (jobs: readonly Job[]) => Promise<boolean>;
}

/** A job handed to a sub-node, with how many times it has been tried (1 for the first). */
export interface FedJob {
  readonly job: Job;
  readonly attempt: number;
  /** 1-based number of the job in this run, kept across its attempts (`{{@job}}`). */
  readonly number: number;
}

/** Hands out jobs one at a time to the sub-node loops of either mode; jobs to retry come first. */
export class JobFeed {
  private readonly options: FeedOptions;
  private readonly retries: FedJob[] = [];
  /** Jobs handed out and not yet reported done: while some run, an idle loop may still get a retry. */
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private woken = Promise.resolve();
  /** The bad entry that ended a run that is not a daemon. */
  private stopError: ConfigError | undefined;
  private idleSaid = false;
  /** Jobs numbered so far. */
  private numbered = 0;
  /** Jobs taken from the queue file for callers of next() that have not picked them up yet (some read ahead). */
  private readonly ready: { readonly job: Job; /** When it was taken (performance.now()). */ readonly since: number }[] = [];
  /** Recent jobs' durations, smoothed; undefined until a job has ended. */
  private typicalMs: number | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  /** A give-back failed (the queue file cannot be written): nothing more is read ahead. */
  private readAheadOff = false;
  private taking: Promise<Taken> | undefined;
  /** The take under way is a refill (nobody asked for it). */
  private refilling = false;
  /** A refill's take failed: the next caller gets the error. */
  private refillError: unknown;
  /** Callers of next() waiting for a job from the queue file. */
  private wanting = 0;
  private missingSaid = false;
  private lastErrorSaid = '';
  private readonly endedController = new AbortController();
  /**
   * Aborted once next() has said "no more jobs" (drained with nothing running, a bad entry, a stop):
   * what waits only to serve later jobs, such as reconnecting to a lost host, can give up (issue 13).
   */
  readonly ended: AbortSignal = this.endedController.signal;

  constructor(options: FeedOptions) {
    this.options = options;
    // A stop (Ctrl-C, --fail-fast, a write fault) gives back what was read ahead at once, before the
    // jobs it cancels are put back at the head: those come first in the queue order.
    if (options.giveBack) options.signal?.addEventListener('abort', () => void this.giveBackReady(), { once: true });
  }

  /** The bad entry that stopped the run, if one did. */
  get error(): ConfigError | undefined {
    return this.stopError;
  }

  /** Hands a job back for another attempt; it goes to the next free sub-node, ahead of the queue file. */
  retry(fed: FedJob): void {
    this.retries.push({ job: fed.job, attempt: fed.attempt + 1, number: fed.number });
    this.poke();
  }

  /** Reports that a job handed out by next() has ended (or was handed back with retry()), and how long it ran. */
  done(durationMs?: number): void {
    this.inFlight -= 1;
    if (durationMs !== undefined) this.typicalMs = this.typicalMs === undefined ? durationMs : 0.8 * this.typicalMs + 0.2 * durationMs;
    this.poke();
  }

  /**
   * Jobs still waiting to be retried (or taken and not handed out) when the run ends; the caller puts
   * them back in the queue file. A refill still under way is waited for, so none of its jobs is lost.
   */
  async leftovers(): Promise<Job[]> {
    while (this.taking) await this.taking.catch(() => undefined); // a refill's jobs land in `ready`
    clearTimeout(this.holdTimer);
    return [...this.retries.splice(0).map((r) => r.job), ...this.ready.splice(0).map((r) => r.job)];
  }

  /** How many jobs a take brings beyond what is asked for: none unless recent jobs were short. */
  private readAhead(): number {
    if (!this.options.giveBack || this.readAheadOff || this.typicalMs === undefined || this.retries.length > 0) return 0;
    if (this.options.steering && !this.options.steering.taking) return 0;
    // The sub-nodes running jobs free up at about inFlight / typicalMs jobs per ms between them.
    return Math.min(READ_AHEAD_MAX, Math.floor((READ_AHEAD_MS * Math.max(1, this.inFlight)) / Math.max(this.typicalMs, 1)));
  }

  private shiftReady(): Job | undefined {
    return this.ready.shift()?.job;
  }

  /**
   * Jobs read ahead that nobody took within HOLD_MS (the jobs got longer, the run was paused) go back
   * to the head of the queue file, all of them and in order, so it again shows every job not started.
   */
  private armHold(): void {
    if (this.holdTimer || this.ready.length === 0 || !this.options.giveBack) return;
    const due = (this.ready[0]?.since ?? performance.now()) + HOLD_MS - performance.now();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      // The jobs this timer was armed for were taken meanwhile: wait for the oldest one left.
      if ((this.ready[0]?.since ?? Infinity) + HOLD_MS > performance.now()) {
        this.armHold();
        return;
      }
      // A take under way would land behind them in the file but run first: wait for it.
      if (this.taking) {
        const again = (): void => this.armHold();
        this.taking.then(again, again); // a take that fails is reported by its caller, not here
        return;
      }
      void this.giveBackReady();
    }, Math.max(0, due));
    this.holdTimer.unref();
  }

  private async giveBackReady(): Promise<void> {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const held = this.ready.splice(0);
    if (held.length === 0 || !this.options.giveBack) return;
    const back = await this.options.giveBack(held.map((r) => r.job)).catch(() => false);
    if (back) return;
    // They could not go back: keep them (ahead of anything taken meanwhile) and read no more ahead.
    this.readAheadOff = true;
    this.ready.unshift(...held);
    this.poke();
  }

  /**
   * One job from the queue file. Sub-nodes that ask while a take is under way are served together
   * by the next one: a single lock, consumed.yaml append and queue rewrite for all of them (issue 7:
   * the per-pop fsyncs are shared instead of paid once per job).
   */
  private async takeOne(signal: AbortSignal | undefined): Promise<Taken> {
    const ready = this.shiftReady();
    if (ready) {
      this.refill();
      return { jobs: [ready] };
    }
    this.wanting += 1;
    try {
      for (;;) {
        this.throwRefillError();
        let taken: Taken;
        if (this.taking) {
          const refilling = this.refilling;
          taken = await this.taking;
          // A refill's take was made before this caller asked: an empty, missing or broken queue it
          // found is looked at again by a take of this caller's own (in daemon mode the file may have
          // changed since), and a write it could not make is this caller's error.
          if (refilling && this.ready.length === 0) continue;
        } else {
          taken = await this.tracked(this.options.store.take(this.wanting + this.readAhead(), signal), false);
        }
        const job = this.shiftReady();
        if (this.ready.length > 0) this.armHold();
        if (job) return { jobs: [job] };
        // Nothing was left for this caller: an empty, missing or broken queue says so; a take that
        // served only others means trying again.
        if (taken.jobs.length === 0) return taken;
      }
    } finally {
      this.wanting -= 1;
    }
  }

  /**
   * Makes `take` the take under way: its jobs join `ready` before anyone waiting on it resumes. A
   * refill's failure is kept for the next caller that finds nothing ready (its promise does not reject).
   */
  private tracked(take: Promise<Taken>, refilling: boolean): Promise<Taken> {
    const taking = take.then(
      (taken) => {
        const now = performance.now();
        this.ready.push(...taken.jobs.map((job) => ({ job, since: now })));
        return taken;
      },
      refilling
        ? (error: unknown): Taken => {
            if (!this.options.signal?.aborted) this.refillError ??= error;
            return { jobs: [] };
          }
        : undefined,
    );
    this.taking = taking;
    this.refilling = refilling;
    const clear = (): void => {
      if (this.taking !== taking) return;
      this.taking = undefined;
      this.refilling = false;
    };
    taking.then(clear, clear);
    return taking;
  }

  /**
   * Takes more jobs ahead in the background once fewer than half of the read-ahead are in hand
   * (issue 17): a sub-node whose job ends then finds the next one ready instead of waiting for the
   * lock and the fsyncs of a take.
   */
  private refill(): void {
    if (this.taking || this.options.signal?.aborted) return;
    const want = this.readAhead();
    if (want === 0 || this.ready.length * 2 >= want) return;
    void this.tracked(this.options.store.take(want - this.ready.length, this.options.signal), true).then(() => {
      if (this.ready.length > 0) this.armHold();
    });
  }

  private throwRefillError(): void {
    const error = this.refillError;
    if (error === undefined) return;
    this.refillError = undefined;
    throw error;
  }

  /** The next job, or undefined when the run should stop taking jobs (queue drained, bad entry, cancelled). */
  async next(): Promise<FedJob | undefined> {
    const fed = await this.nextOrEnd();
    if (!fed) this.endedController.abort();
    return fed;
  }

  private async nextOrEnd(): Promise<FedJob | undefined> {
    const { store, watcher, emit, signal } = this.options;
    for (;;) {
      if (signal?.aborted || this.stopError) return undefined;
      const retry = this.retries.shift();
      if (retry) return this.handOut(retry);
      const steering = this.options.steering;
      if (steering && !steering.taking) {
        await Promise.race([steering.changed(signal), this.waitForPoke(signal)]);
        continue;
      }
      const seen = watcher?.version ?? 0;
      let taken;
      try {
        taken = await this.takeOne(signal);
      } catch (error) {
        // A full or read-only disk: the jobs stay in the queue file; no more are taken (issue 13).
        if (error instanceof FileError && this.options.faults) {
          this.options.faults.record(error);
          return undefined;
        }
        if (signal?.aborted) return undefined;
        throw error;
      }
      const job = taken.jobs[0];
      if (job) {
        this.idleSaid = this.missingSaid = false;
        this.lastErrorSaid = '';
        return this.handOut({ job, attempt: 1, number: ++this.numbered });
      }
      if (taken.error) {
        if (!watcher) {
          this.stopError = taken.error;
          emit({ type: 'queue-error', error: taken.error, waiting: false });
          return undefined;
        }
        // An editor may be half-way through saving: report only what stays broken for a moment.
        const settled = await Promise.race([
          watcher.changedSince(seen, signal).then(() => false),
          delay(SETTLE_MS, true, signal ? { signal } : {}).catch(() => false),
        ]);
        if (!settled) continue;
        const key = taken.error.describe();
        if (key !== this.lastErrorSaid) {
          this.lastErrorSaid = key;
          emit({ type: 'queue-error', error: taken.error, waiting: true });
        }
      } else if (!watcher) {
        // The queue is drained; a job running elsewhere may still come back for a retry.
        if (this.inFlight === 0) return undefined;
        await this.waitForPoke(signal);
        continue;
      } else if (taken.missing) {
        if (!this.missingSaid) emit({ type: 'queue-missing', file: store.files.queue });
        this.missingSaid = true;
      } else if (!this.idleSaid) {
        this.idleSaid = true;
        emit({ type: 'queue-idle', file: store.files.queue });
      }
      await Promise.race([watcher.changedSince(seen, signal), this.waitForPoke(signal)]);
    }
  }

  private handOut(fed: FedJob): FedJob {
    this.inFlight += 1;
    return fed;
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves at the next retry() or done(), or when `signal` aborts. */
  private waitForPoke(signal: AbortSignal | undefined): Promise<void> {
    if (!this.wake) this.woken = new Promise((resolve) => (this.wake = resolve));
    const woken = this.woken;
    if (!signal) return woken;
    return new Promise((resolve) => {
      const onAbort = (): void => resolve();
      signal.addEventListener('abort', onAbort, { once: true });
      void woken.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}
