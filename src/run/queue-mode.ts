// Queue mode: every free sub-node takes the next job from the head of the queue and runs it.
import { renderJob } from '../config/jobs.js';
import { type SubNode } from '../config/hosts.js';
import { parseDuration } from '../config/duration.js';
import { describeOutcome, succeeded, type Executor } from '../exec/types.js';
import { type QueueStore } from '../queue/store.js';
import { type QueueWatcher } from '../queue/watch.js';
import { type FailedJob, type RunEvent, type RunSummary } from './events.js';
import { JobFeed } from './feed.js';
import { type Journal } from './journal.js';
import { refOf, Sessions, type ExecutorOrError } from './sessions.js';

export interface QueueRunOptions {
  readonly subnodes: readonly SubNode[];
  readonly store: QueueStore;
  /** The executor of a sub-node, or the reason its host cannot be used. Shared per host by the caller. */
  readonly executorFor: (subnode: SubNode) => Promise<ExecutorOrError>;
  readonly emit: (event: RunEvent) => void;
  /** Daemon mode: wait for the queue file to change instead of ending when it is empty. */
  readonly watcher?: QueueWatcher;
  /** Aborting stops taking new jobs; running ones finish (the first Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Aborting cancels running jobs (a second Ctrl-C, SIGTERM); they go back to the head of the queue. */
  readonly cancel?: AbortSignal;
  /** --timeout: stop a job that runs longer (an entry's own `timeout` wins). */
  readonly timeoutMs?: number;
  /** Records starts and ends, so that a run that dies can be accounted for. */
  readonly journal?: Journal;
  /** --fail-fast: take no job after the first failure; running ones finish. */
  readonly failFast?: boolean;
}

/** Runs the queue until it is empty (or nothing can run it, or the run is cancelled), and says how it went. */
export async function runQueue(options: QueueRunOptions): Promise<RunSummary> {
  const started = performance.now();
  const { store, emit, signal } = options;
  const sessions = new Sessions(options.executorFor, emit);
  // Taking stops on the run's signal (Ctrl-C) or, with --fail-fast, at the first failure.
  const failFast = new AbortController();
  const stopTaking = signal ? AbortSignal.any([signal, failFast.signal]) : failFast.signal;
  const feed = new JobFeed({ store, emit, ...(options.watcher ? { watcher: options.watcher } : {}), signal: stopTaking });
  let nextId = 1;
  let okCount = 0;
  const failed: FailedJob[] = [];

  const worker = async (subnode: SubNode, exec: Executor): Promise<void> => {
    const ref = refOf(subnode);
    while (!sessions.isDead(subnode.host)) {
      const job = await feed.next();
      if (!job) return;
      const id = nextId++;
      const command = renderJob(job, subnode);
      emit({ type: 'job-started', id, subnode: ref, job, command });
      await options.journal?.started(job, subnode.label, 1);
      const timeoutMs = job.timeout ? parseDuration(job.timeout) : options.timeoutMs;
      const result = await exec.run({
        command,
        onLine: (stream, line) => emit({ type: 'job-output', id, subnode: ref, stream, line }),
        ...(options.cancel ? { signal: options.cancel } : {}),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      // A job whose connection failed, or that was cancelled, goes back to the head of the queue: nothing is lost.
      const requeued = result.transportError !== undefined || result.cancelled;
      if (requeued) await store.putBack([job]);
      await options.journal?.finished(job, result, requeued);
      emit({ type: 'job-finished', id, subnode: ref, job, command, result, requeued });
      if (succeeded(result)) okCount += 1;
      else {
        failed.push({ subnode: ref, command, result, requeued });
        if (!requeued) await store.recordFailure(job, `failed on ${subnode.label}: ${describeOutcome(result)}, ${new Date().toISOString()}`);
        if (options.failFast && !requeued) failFast.abort();
      }
      if (result.transportError) sessions.markDead(subnode.host, result.transportError);
    }
  };

  // Each sub-node starts taking jobs as soon as its own host is connected.
  await Promise.all(
    options.subnodes.map(async (subnode) => {
      const exec = await sessions.open(subnode);
      if (exec) await worker(subnode, exec);
    }),
  );
  const queueError = feed.error;
  return {
    succeeded: okCount,
    failed,
    deadHosts: sessions.deadHosts,
    ...(queueError ? { queueError } : {}),
    // Sub-nodes of a dead host stop; when no host is left, the queue may still hold work.
    stranded: options.subnodes.every((s) => sessions.isDead(s.host)),
    durationMs: performance.now() - started,
  };
}
