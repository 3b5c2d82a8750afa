// What both modes are given: the sub-nodes, the queue, executors, the event sink, and how to stop.
import type { SubNode } from '../config/hosts.js';
import type { QueueStore } from '../queue/store.js';
import type { QueueWatcher } from '../queue/watch.js';
import { parseDuration } from '../config/duration.js';
import type { Job } from '../config/jobs.js';
import type { ExecRequest, ExecResult, Executor } from '../exec/types.js';
import { linkedSignal } from './linked-signal.js';
import type { RunEvent, SubNodeRef } from './events.js';
import type { Journal } from './journal.js';
import type { GpuWatch } from './gpu-watch.js';
import type { Steering } from './steering.js';
import type { ExecutorOrError } from './sessions.js';

/** The options queue and broadcast mode share. */
export interface ModeOptions {
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
  /** Records what is taken, started and finished, so that a run that dies can be accounted for. */
  readonly journal?: Journal;
  /** Whether the output's consumers are behind; jobs' output is read no faster than they keep up (bounded memory). */
  readonly backpressure?: () => Promise<void> | undefined;
  /** `pegasus kill`, `pause`, `resume`, `drain`, and hosts.yaml edits (issue 14). */
  readonly steering?: Steering;
  /** The GPUs of `slots: auto` sub-nodes (issue 15); shared with `pegasus status` through the steering. */
  readonly gpus?: GpuWatch;
  /** Closes a host's connections: a drained or removed host's sub-nodes have all stopped (issue 14). The next job there connects again. */
  readonly hangUp?: (host: string) => Promise<void>;
}

/**
 * Runs one attempt on `exec`: it stops when the run is cancelled or `kill` (`pegasus kill`) aborts,
 * and follows them only while it runs.
 */
export async function runAttempt(exec: Executor, options: ModeOptions, job: Job, command: string, id: number, subnode: SubNodeRef, kill?: AbortSignal): Promise<ExecResult> {
  const linked = linkedSignal([options.cancel, kill]);
  try {
    return await exec.run(attemptRequest(options, job, command, id, subnode, linked.signal));
  } finally {
    linked.release();
  }
}

/** What an attempt asks its executor: the command, its output as job-output events, the signal that stops it, the timeout, backpressure. */
function attemptRequest(options: ModeOptions, job: Job, command: string, id: number, subnode: SubNodeRef, signal: AbortSignal | undefined): ExecRequest {
  const timeoutMs = job.timeout ? parseDuration(job.timeout) : options.timeoutMs;
  return {
    command,
    onLine: (stream, line) => options.emit({ type: 'job-output', id, subnode, stream, line }),
    ...(signal ? { signal } : {}),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(options.backpressure ? { backpressure: options.backpressure } : {}),
  };
}
