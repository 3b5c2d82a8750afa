// Queue mode: every free sub-node takes the next job from the head of the queue and runs it.
import { setMaxListeners } from 'node:events';
import { renderJob } from '../config/jobs.js';
import type { SubNode } from '../config/hosts.js';
import { describeOutcome, succeeded, type ExecResult, type Executor } from '../exec/types.js';
import type { FailedJob, RunSummary } from './events.js';
import { WriteFaults } from './faults.js';
import { giveBackTo, JobFeed, NOT_RUN, type FedJob } from './feed.js';
import { runAttempt, type ModeOptions } from './mode-options.js';
import { Placement } from './placement.js';
import { GpuWatch } from './gpu-watch.js';
import { Roster } from './roster.js';
import { refOf, Sessions } from './sessions.js';

export interface QueueRunOptions extends ModeOptions {
  /** --fail-fast: take no job after the first failure; running ones finish. */
  readonly failFast?: boolean;
  /** --retries: further attempts for a job whose connection failed (default 2). */
  readonly retries?: number;
  /** --retry-failed: jobs that exit non-zero are retried too. */
  readonly retryFailed?: boolean;
  /** --backfill: later jobs may use slots the waiting head cannot (issue 8). */
  readonly backfill?: boolean;
}


/** Runs the queue until it is empty (or nothing can run it, or the run is cancelled), and says how it went. */
export async function runQueue(options: QueueRunOptions): Promise<RunSummary> {
  const started = performance.now();
  const { store, emit, signal } = options;
  const retries = options.retries ?? 2;
  const sessions = new Sessions(options.executorFor, emit);
  // Taking stops on the run's signal (Ctrl-C) or, with --fail-fast, at the first failure.
  const failFast = new AbortController();
  // A queue file that cannot be written stops the taking too; running jobs finish (issue 13).
  const faults = new WriteFaults(emit);
  const stopTaking = AbortSignal.any([...(signal ? [signal] : []), failFast.signal, faults.signal]);
  setMaxListeners(0, stopTaking); // one listener per sub-node loop waiting for work
  // Jobs read ahead for short jobs and not taken in time go back as jobs put back do.
  const giveBack = giveBackTo(store, faults, options.journal);
  const feed = new JobFeed({ store, emit, ...(options.watcher ? { watcher: options.watcher } : {}), signal: stopTaking, faults, giveBack, ...(options.steering ? { steering: options.steering } : {}) });
  let nextId = 1;
  let okCount = 0;
  let retried = 0;
  const failed: FailedJob[] = [];

  // Writes the run does not wait for on a job's path, and waits for before it ends.
  const pending = new Set<Promise<unknown>>();
  let pendingError: unknown;
  const afterwards = (write: Promise<unknown>): Promise<void> => {
    const tracked = write.then(
      () => undefined,
      (error: unknown) => {
        pendingError ??= error;
      },
    );
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
    return tracked;
  };

  /** Decides what happens to a job after one attempt: done, failed, put back, or tried again. */
  const settle = async (id: number, fed: FedJob, subnode: SubNode, command: string, result: ExecResult): Promise<{ requeued: boolean; retrying: boolean; recorded?: Promise<void> }> => {
    const { job, attempt } = fed;
    // Transport failures are retried; job failures only with --retry-failed (DESIGN invariant 6).
    const retryable = result.transportError !== undefined || (options.retryFailed === true && !succeeded(result) && !result.timedOut);
    // Lost while the run stops (a first Ctrl-C): it cannot be retried now, and it did not fail by
    // itself, so it goes back for the next run like a cancelled job (issue 13).
    const lostWhileStopping = result.transportError !== undefined && signal?.aborted === true;
    // `pegasus kill` ends a job as failed (recorded as killed); `kill --requeue` puts it back like a cancelled one (issue 14).
    if ((result.cancelled && !result.killed) || lostWhileStopping || options.steering?.killedAs(fed.number) === 'requeue') {
      // Nothing is lost: it goes back to the head of the queue. If the queue cannot be written it
      // stays in consumed.yaml, and open in the journal, so a later run can put it back.
      const back = await faults.attempt(() => store.putBack([job]));
      if (back) await faults.attempt(() => options.journal?.finished(job, result, true));
      failed.push({ id, subnode: refOf(subnode), command, result, requeued: back, attempts: attempt });
      return { requeued: back, retrying: false };
    }
    if (retryable && attempt <= retries && !stopTaking.aborted) {
      if (attempt === 1) retried += 1;
      feed.retry(fed); // the journal keeps it open until its last attempt ends
      return { requeued: false, retrying: true };
    }
    // Not waited for here (issue 17: the next job on this sub-node is taken meanwhile): the journal writes
    // its records in order, the sub-node's loop waits for it before its next job starts, and the run for all before it ends.
    const recorded = afterwards(faults.attempt(() => options.journal?.finished(job, result, false)));
    if (succeeded(result)) {
      okCount += 1;
    } else {
      failed.push({ id, subnode: refOf(subnode), command, result, requeued: false, attempts: attempt });
      await faults.attempt(() => store.recordFailure(job, `failed on ${subnode.label}: ${describeOutcome(result)}, attempt ${attempt}, ${new Date().toISOString()}`));
      if (options.failFast && !result.killed) failFast.abort();
    }
    return { requeued: false, retrying: false, recorded };
  };

  // Who is in the run changes with pause, drain and hosts.yaml edits (issue 14).
  const roster = options.steering?.roster ?? new Roster(options.subnodes, emit);
  const gpus = options.gpus ?? new GpuWatch(emit);
  const placement = new Placement({
    roster,
    gpus,
    onWaiting: (waiting) => {
      options.steering?.noteWaiting(waiting);
      emit({ type: 'head-waiting', ...(waiting ?? {}) });
    },
    feed,
    backfill: options.backfill ?? false,
    isDead: (host) => sessions.isDead(host),
    signal: stopTaking,
    onUnrunnable: async (fed, largest) => {
      const reason = `needs ${fed.job.slots ?? 1} slots on one sub-node; the largest ${largest === 0 ? 'has none left' : `offers ${largest}`}`;
      const command = fed.job.command;
      unrunnable.push({ command, slots: fed.job.slots ?? 1, reason });
      emit({ type: 'job-unrunnable', job: fed.job, reason, number: fed.number });
      await faults.attempt(() => options.journal?.finished(fed.job, NOT_RUN, false));
      await faults.attempt(() => store.recordFailure(fed.job, `not run: ${reason}, ${new Date().toISOString()}`));
      feed.done();
    },
  });
  const unrunnable: { command: string; slots: number; reason: string }[] = [];

  /** One loop of a sub-node: a sub-node with N slots runs N loops, each running one job at a time. */
  const worker = async (subnode: SubNode, first: Executor): Promise<void> => {
    const ref = refOf(subnode);
    let exec: Executor | undefined = first;
    // The previous job's 'finished' record: a loop has at most one job that ran and is not yet recorded, so a
    // run that is SIGKILLed reruns (after --requeue-interrupted) at most one finished job per loop.
    let recorded: Promise<void> | undefined;
    while (exec && !sessions.isDead(subnode.host)) {
      const placed = await placement.next(subnode);
      if (!placed) return;
      await recorded;
      const { fed } = placed;
      const id = nextId++;
      const command = renderJob(fed.job, subnode, { slots: placed.slots, job: fed.number, attempt: fed.attempt });
      emit({ type: 'job-started', id, subnode: ref, job: fed.job, command, attempt: fed.attempt, slots: placed.slots, number: fed.number });
      // The 'started' line is not waited for (issue 17: one file round trip less per job): the journal
      // writes its lines in order, and 'taken', which a later run needs, was synced with the pop.
      const noted = faults.attempt(() => options.journal?.started(fed.job, subnode.label, fed.attempt, subnode.slots > 1 ? placed.slots : undefined));
      const steered = options.steering?.attempt(fed.number, subnode);
      const ran = await runAttempt(exec, options, fed.job, command, id, ref, steered?.signal);
      steered?.end();
      await noted;
      const result = ran.cancelled && options.steering?.killedAs(fed.number) ? { ...ran, killed: true } : ran;
      placement.release(subnode, placed.slots, fed.number);
      const settled = await settle(id, fed, subnode, command, result);
      const { requeued, retrying } = settled;
      recorded = settled.recorded;
      emit({ type: 'job-finished', id, subnode: ref, job: fed.job, command, result, requeued, retrying, attempt: fed.attempt, slots: placed.slots });
      feed.done(result.durationMs);
      // A lost connection: try to get the host back; its sub-nodes wait, the others keep going.
      if (result.transportError) {
        exec = await sessions.reconnect(subnode, exec, result.transportError, AbortSignal.any([stopTaking, feed.ended]));
        if (!exec) placement.wake(); // its host is gone: jobs waiting for it may now be unrunnable
      }
    }
  };

  /**
   * A sub-node's part of the run: connect, run its loops, and when it leaves (drain, or gone from
   * hosts.yaml) hang up its host once no other sub-node there runs; a drained one waits to be resumed.
   */
  const hangUp = async (host: string): Promise<void> => {
    sessions.forget(host);
    await options.hangUp?.(host);
  };
  const serve = async (joined: SubNode): Promise<void> => {
    let subnode = joined;
    for (;;) {
      const exec = await sessions.open(subnode, stopTaking);
      // `slots: auto`: its GPUs are counted over the connection before it takes a job (issue 15).
      if (exec && subnode.gpus && !subnode.gpus.ids) {
        const ids = await gpus.count(subnode, exec);
        subnode = roster.resolve(subnode, typeof ids === 'string' ? [] : ids);
        gpus.track(subnode);
        placement.wake(); // jobs waiting for more slots than were known may fit now, or be unrunnable
      }
      if (exec) await Promise.all(Array.from({ length: subnode.slots }, () => worker(subnode, exec)));
      else placement.wake();
      // Its loops have ended: the queue is done, the run stops, its host is gone, or it leaves.
      const leaving = roster.isLeaving(subnode) && !stopTaking.aborted;
      await roster.park(subnode, leaving ? hangUp : undefined);
      if (!leaving) return;
      if (!(await roster.untilBack(subnode, AbortSignal.any([stopTaking, placement.finished])))) {
        placement.forget(subnode);
        return;
      }
    }
  };

  // Each sub-node starts taking jobs as soon as its own host is connected; sub-nodes added to hosts.yaml join as they come.
  const serving = new Set<Promise<void>>();
  const join = (subnode: SubNode): void => {
    const served: Promise<void> = serve(subnode).finally(() => serving.delete(served));
    serving.add(served);
  };
  roster.onJoin((subnode) => {
    if (!stopTaking.aborted && !placement.finished.aborted) join(subnode);
  });
  for (const subnode of roster.subnodes) join(subnode);
  while (serving.size > 0) await Promise.all(serving);
  roster.onJoin(undefined);
  await Promise.all(pending);
  if (pendingError !== undefined) throw pendingError;
  // Jobs taken and never started, and retries nobody was left to run, go back to the head of the queue: nothing is lost.
  const leftovers = [...placement.leftovers().map((fed) => fed.job), ...(await feed.leftovers())];
  const leftBack = leftovers.length > 0 && (await faults.attempt(() => store.putBack(leftovers)));
  if (leftBack) for (const job of leftovers) await faults.attempt(() => options.journal?.finished(job, NOT_RUN, true));
  const queueError = feed.error;
  return {
    succeeded: okCount,
    failed,
    deadHosts: sessions.deadHosts,
    ...(queueError ? { queueError } : {}),
    // Sub-nodes of a dead host stop; when no host is left, the queue may still hold work.
    stranded: roster.subnodes.every((s) => sessions.isDead(s.host) || (s.gpus !== undefined && s.slots === 0)),
    putBack: leftBack ? leftovers.length : 0, // when the queue could not be written, the fault says where they are
    retried,
    ...(unrunnable.length > 0 ? { unrunnable } : {}),
    ...(faults.list.length > 0 ? { fileFaults: faults.list } : {}),
    durationMs: performance.now() - started,
  };
}
