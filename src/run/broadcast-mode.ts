// Broadcast mode: each job runs on every sub-node, in lockstep: the next job starts when all have finished this one.
import { renderJob } from '../config/jobs.js';
import type { SubNode } from '../config/hosts.js';
import { describeOutcome, succeeded, type Executor } from '../exec/types.js';
import type { BroadcastCell, BroadcastRound, BroadcastSummary, FailedJob } from './events.js';
import { WriteFaults } from './faults.js';
import { giveBackTo, JobFeed } from './feed.js';
import { runAttempt, type ModeOptions } from './mode-options.js';
import { GpuWatch } from './gpu-watch.js';
import { Roster } from './roster.js';
import { SlotSet } from './slots.js';
import { refOf, Sessions } from './sessions.js';

export interface BroadcastOptions extends ModeOptions {
  /** -e: stop taking jobs as soon as any sub-node fails one (or is unreachable at start). */
  readonly errorAborts: boolean;
}

/** Broadcasts jobs from the queue until it is empty (or -e aborts, or the run is cancelled). */
export async function runBroadcast(options: BroadcastOptions): Promise<BroadcastSummary> {
  const started = performance.now();
  const { store, emit, signal } = options;
  const sessions = new Sessions(options.executorFor, emit);
  // Who is in the run changes with drain and hosts.yaml edits (issue 14): each round goes to the sub-nodes in it then.
  const roster = options.steering?.roster ?? new Roster(options.subnodes, emit);
  /** Each sub-node's executor while it is in the run (undefined: its host could not be reached). */
  const execs = new Map<SubNode, Executor | undefined>();
  const gpus = options.gpus ?? new GpuWatch(emit);
  const open = async (subnodes: readonly SubNode[]): Promise<void> => {
    await Promise.all(
      subnodes
        .filter((s) => !execs.has(s))
        .map(async (subnode) => {
          const exec = await sessions.open(subnode, signal);
          // `slots: auto`: its GPUs are counted before its first job (issue 15); broadcast jobs do not wait for busy GPUs.
          if (exec && subnode.gpus && !subnode.gpus.ids) {
            const ids = await gpus.count(subnode, exec);
            const counted = roster.resolve(subnode, typeof ids === 'string' ? [] : ids);
            gpus.track(counted);
            execs.set(counted, exec);
            return;
          }
          execs.set(subnode, exec);
        }),
    );
  };
  await open(roster.subnodes);
  const live = roster.subnodes.filter((s) => execs.get(s) !== undefined);
  const unreachable = roster.subnodes.filter((s) => execs.get(s) === undefined).map(refOf);
  const rounds: BroadcastRound[] = [];
  const failed: FailedJob[] = [];
  let okCount = 0;
  let aborted = false;
  let nextId = 1;
  // A queue file that cannot be written stops the taking; the round that runs finishes (issue 13).
  const faults = new WriteFaults(emit);
  const stopTaking = AbortSignal.any([...(signal ? [signal] : []), faults.signal]);
  // Short rounds are read ahead as short jobs are in queue mode (issue 17).
  const giveBack = giveBackTo(store, faults, options.journal);
  const feed = new JobFeed({ store, emit, ...(options.watcher ? { watcher: options.watcher } : {}), signal: stopTaking, faults, giveBack, ...(options.steering ? { steering: options.steering } : {}) });
  const finish = (queueError = feed.error): BroadcastSummary => ({
    succeeded: okCount,
    failed,
    deadHosts: sessions.deadHosts,
    ...(queueError ? { queueError } : {}),
    ...(faults.list.length > 0 ? { fileFaults: faults.list } : {}),
    stranded: live.length === 0,
    durationMs: performance.now() - started,
    rounds,
    unreachable,
    aborted,
  });
  // Broadcast never silently runs on a subset: with -e an unreachable sub-node stops it before any job.
  if ((options.errorAborts && unreachable.length > 0) || live.length === 0) {
    aborted = options.errorAborts && unreachable.length > 0;
    return finish(undefined);
  }

  /** Sub-nodes that left (drained, or gone from hosts.yaml) after a round: their hosts are hung up once none of theirs runs. */
  const leave = async (): Promise<void> => {
    for (const subnode of [...execs.keys()]) {
      if (!roster.isLeaving(subnode) || roster.standing(subnode) === 'drained') continue;
      execs.delete(subnode);
      await roster.park(subnode, async (host) => {
        sessions.forget(host);
        await options.hangUp?.(host);
      });
    }
  };

  for (;;) {
    const fed = await feed.next();
    if (!fed) break;
    const roundStart = performance.now();
    const job = fed.job;
    // Sub-nodes that joined, or came back from a drain, connect before the round starts.
    const members = roster.subnodes;
    for (const subnode of members) if (!roster.isLeaving(subnode) && !execs.has(subnode)) await roster.untilBack(subnode, stopTaking);
    await open(members.filter((s) => !roster.isLeaving(s)));
    const cells = await Promise.all(
      members.map(async (subnode): Promise<BroadcastCell> => {
        const ref = refOf(subnode);
        const standing = roster.standing(subnode);
        if (standing === 'drained' || standing === 'draining') return { subnode: ref, absent: 'drained' };
        if (standing === 'removing' || standing === 'removed') return { subnode: ref, absent: 'removed' };
        const exec = execs.get(subnode);
        if (!exec || sessions.isDead(subnode.host)) return { subnode: ref };
        // The same allocation rule as queue mode, on a sub-node that runs only this job (issue 8).
        const slots = new SlotSet(subnode.slots).find(job.slots ?? 1, job.allocationPolicy ?? 'first_fit');
        if (!slots) return { subnode: ref, skipped: `needs ${job.slots ?? 1} slots, has ${subnode.slots}` };
        // A paused or drained sub-node holds the barrier: the job starts there once it is resumed (issue 14).
        const steering = options.steering;
        while (!roster.mayPlace(subnode) && !roster.isLeaving(subnode) && !stopTaking.aborted) await roster.changed(stopTaking);
        if (roster.isLeaving(subnode)) return { subnode: ref, absent: roster.standing(subnode) === 'draining' ? 'drained' : 'removed' };
        if (stopTaking.aborted && !roster.mayPlace(subnode)) return { subnode: ref, skipped: 'paused when the run stopped' };
        const id = nextId++;
        const command = renderJob(job, subnode, { slots, job: fed.number, attempt: 1 });
        emit({ type: 'job-started', id, subnode: ref, job, command, attempt: 1, slots, number: fed.number });
        // `pegasus kill N` kills job N on every sub-node it runs on.
        const steered = steering?.attempt(fed.number, subnode);
        const ran = await runAttempt(exec, options, job, command, id, ref, steered?.signal);
        steered?.end();
        const result = ran.cancelled && steering?.killedAs(fed.number) ? { ...ran, killed: true } : ran;
        emit({ type: 'job-finished', id, subnode: ref, job, command, result, requeued: false });
        if (succeeded(result)) okCount += 1;
        else failed.push({ id, subnode: ref, command, result, requeued: false });
        if (result.transportError) sessions.markDead(subnode.host, result.transportError);
        return { subnode: ref, result };
      }),
    );
    rounds.push({ job, cells });
    const failedCells = cells.filter((c) => c.result && !succeeded(c.result) && (!c.result.cancelled || c.result.killed));
    const killedAs = options.steering?.killedAs(fed.number);
    if (failedCells.length > 0 && killedAs !== 'requeue') {
      const where = failedCells.map((c) => `${c.subnode.label} (${c.result ? describeOutcome(c.result) : ''})`).join(', ');
      await faults.attempt(() => store.recordFailure(job, `broadcast failed on ${where}, ${new Date().toISOString()}`));
    }
    // A cancelled broadcast goes back to the head of the queue so that no sub-node silently misses it
    // (when the queue cannot be written it stays in consumed.yaml and open in the journal).
    // A killed broadcast is failed (killed) and the run goes on; `kill --requeue` puts it back and it is broadcast again.
    const interrupted = cells.some((c) => c.result?.cancelled && !c.result.killed);
    const cancelled = interrupted || killedAs === 'requeue';
    const back = cancelled && (await faults.attempt(() => store.putBack([job])));
    const worst = failedCells[0]?.result ?? cells.find((c) => c.result)?.result;
    if (worst && (!cancelled || back)) await faults.attempt(() => options.journal?.finished(job, worst, cancelled));
    feed.done(performance.now() - roundStart);
    await leave();
    if (interrupted) break;
    if (options.errorAborts && cells.some((c) => c.result && !succeeded(c.result))) {
      aborted = true;
      break;
    }
  }
  // Rounds read ahead and not run (-e stopped the run) go back to the head of the queue.
  const rest = await feed.leftovers();
  if (rest.length > 0) await giveBack(rest);
  return finish();
}
