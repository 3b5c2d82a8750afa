// Queue mode: every free sub-node takes the next job from the head of the queue and runs it.
import { renderJob, type Job } from '../config/jobs.js';
import { type SubNode } from '../config/hosts.js';
import { type ConfigError, type TransportError } from '../errors.js';
import { succeeded, type Executor } from '../exec/types.js';
import { type QueueStore } from '../queue/store.js';
import { type FailedJob, type RunEvent, type RunSummary, type SubNodeRef } from './events.js';

/** A connected executor, or why the host cannot be used. */
export type ExecutorOrError = { readonly executor: Executor } | { readonly error: TransportError };

export interface QueueRunOptions {
  readonly subnodes: readonly SubNode[];
  readonly store: QueueStore;
  /** The executor of a sub-node, or the reason its host cannot be used. Shared per host by the caller. */
  readonly executorFor: (subnode: SubNode) => Promise<ExecutorOrError>;
  readonly emit: (event: RunEvent) => void;
  /** Aborting stops taking new jobs and cancels running ones. */
  readonly signal?: AbortSignal;
}

/** Runs the queue until it is empty (or nothing can run it), and says how it went. */
export async function runQueue(options: QueueRunOptions): Promise<RunSummary> {
  const started = performance.now();
  const { store, emit, signal } = options;
  let nextId = 1;
  let okCount = 0;
  let queueError: ConfigError | undefined;
  const failed: FailedJob[] = [];
  const deadHosts = new Set<string>();
  const hostFailed = (host: string, error: TransportError): void => {
    if (deadHosts.has(host)) return;
    deadHosts.add(host);
    emit({ type: 'host-failed', host, error });
  };

  const worker = async (subnode: SubNode): Promise<void> => {
    const ref: SubNodeRef = { index: subnode.index, host: subnode.host, label: subnode.label };
    const connection = await options.executorFor(subnode);
    if ('error' in connection) {
      hostFailed(subnode.host, connection.error);
      return;
    }
    const exec = connection.executor;
    while (!queueError && !signal?.aborted && !deadHosts.has(subnode.host)) {
      const taken = await store.take(1, signal);
      if (taken.error && !queueError) {
        queueError = taken.error;
        emit({ type: 'queue-error', error: taken.error });
      }
      const job: Job | undefined = taken.jobs[0];
      if (!job) return;
      const id = nextId++;
      const command = renderJob(job, subnode);
      emit({ type: 'job-started', id, subnode: ref, job, command });
      const result = await exec.run({
        command,
        onLine: (stream, line) => emit({ type: 'job-output', id, subnode: ref, stream, line }),
        ...(signal ? { signal } : {}),
      });
      // A job whose connection failed, or that was cancelled, goes back to the head of the queue: nothing is lost.
      const requeued = result.transportError !== undefined || result.cancelled;
      if (requeued) await store.putBack([job]);
      emit({ type: 'job-finished', id, subnode: ref, job, command, result, requeued });
      if (succeeded(result)) okCount += 1;
      else failed.push({ subnode: ref, command, result, requeued });
      if (result.transportError) hostFailed(subnode.host, result.transportError);
    }
  };

  await Promise.all(options.subnodes.map((subnode) => worker(subnode)));
  // Sub-nodes of a dead host stop; when no host is left, the queue may still hold work.
  const stranded = options.subnodes.every((s) => deadHosts.has(s.host));
  return {
    succeeded: okCount,
    failed,
    deadHosts: [...deadHosts],
    ...(queueError ? { queueError } : {}),
    stranded,
    durationMs: performance.now() - started,
  };
}
