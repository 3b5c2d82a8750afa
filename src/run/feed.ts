// Where the modes get their next job: the head of the queue, and in daemon mode the wait for the file to change.
import { setTimeout as delay } from 'node:timers/promises';
import { type Job } from '../config/jobs.js';
import { type ConfigError } from '../errors.js';
import { type QueueStore } from '../queue/store.js';
import { type QueueWatcher } from '../queue/watch.js';
import { type RunEvent } from './events.js';

/** A half-saved file gets this long to become valid before the daemon reports it as malformed. */
const SETTLE_MS = 300;

export interface FeedOptions {
  readonly store: QueueStore;
  /** Present in daemon mode: an empty or broken queue is waited out instead of ending the run. */
  readonly watcher?: QueueWatcher;
  readonly emit: (event: RunEvent) => void;
  readonly signal?: AbortSignal;
}

/** Hands out jobs one at a time to the sub-node loops of either mode. */
export class JobFeed {
  private readonly options: FeedOptions;
  /** The bad entry that ended a run that is not a daemon. */
  private stopError: ConfigError | undefined;
  private idleSaid = false;
  private missingSaid = false;
  private lastErrorSaid = '';

  constructor(options: FeedOptions) {
    this.options = options;
  }

  /** The bad entry that stopped the run, if one did. */
  get error(): ConfigError | undefined {
    return this.stopError;
  }

  /** The next job, or undefined when the run should stop taking jobs (queue drained, bad entry, cancelled). */
  async next(): Promise<Job | undefined> {
    const { store, watcher, emit, signal } = this.options;
    for (;;) {
      if (signal?.aborted || this.stopError) return undefined;
      const seen = watcher?.version ?? 0;
      let taken;
      try {
        taken = await store.take(1, signal);
      } catch (error) {
        if (signal?.aborted) return undefined;
        throw error;
      }
      const job = taken.jobs[0];
      if (job) {
        this.idleSaid = this.missingSaid = false;
        this.lastErrorSaid = '';
        return job;
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
        return undefined;
      } else if (taken.missing) {
        if (!this.missingSaid) emit({ type: 'queue-missing', file: store.files.queue });
        this.missingSaid = true;
      } else if (!this.idleSaid) {
        this.idleSaid = true;
        emit({ type: 'queue-idle', file: store.files.queue });
      }
      await watcher.changedSince(seen, signal);
    }
  }
}
