// The view state of a run: what each sub-node is doing and the totals, folded from run events (one reducer for the live panel and the progress line).
import type { RunEvent, SubNodeRef } from '../run/events.js';
import type { GpuView } from '../run/gpu-watch.js';
import type { Standing } from '../run/roster.js';

export type SubNodeState = 'idle' | 'running' | 'reconnecting' | 'down';

/** A job running on a sub-node. */
export interface RunningJob {
  readonly command: string;
  readonly since: number;
  readonly attempt: number;
  readonly slots?: readonly number[];
  /** The job's number in the run, as `pegasus kill` takes it. */
  readonly number?: number;
}

/** One sub-node's row. */
export interface SubNodeView {
  ref: SubNodeRef;
  state: SubNodeState;
  /** Its running jobs by id, oldest first (more than one when it has slots). */
  readonly jobs: Map<number, RunningJob>;
  /** Which of its slots are in use, when it has more than one. */
  occupancy?: boolean[];
  /** Its GPUs (`slots: auto`, issue 15): free, ours, or busy with someone else's work. */
  gpus?: readonly GpuView[];
  /** Paused, draining, drained or leaving (issue 14): it starts no new job. Absent while it takes jobs. */
  standing?: Exclude<Standing, 'taking'>;
}

/** The oldest job running on a sub-node, if any. */
export function oldestJob(row: SubNodeView): RunningJob | undefined {
  return row.jobs.values().next().value;
}

export interface Totals {
  running: number;
  done: number;
  failed: number;
  /** Attempts that will be tried again (lost connection, or --retry-failed). */
  retried: number;
  /** Entries left in the queue file, when known (counted now and then, not per job). */
  queued?: number;
}

/** Everything the panel shows. Mutated in place by `applyEvent`: it sees every output line, so it must not allocate per event. */
export interface ViewState {
  readonly startedAt: number;
  readonly subnodes: SubNodeView[];
  readonly totals: Totals;
  /** Another process holds the queue lock and pegasus waits for it. */
  lockedBy?: { readonly pid?: number; readonly what?: string };
  /** Daemon mode: why the run is waiting, if it is. */
  waiting?: 'queue-empty' | 'queue-missing' | 'queue-broken';
  /** Ctrl-C was pressed: 'drain' takes no new jobs, 'cancel' stops running ones. */
  stop?: 'drain' | 'cancel';
  /** `pegasus pause`: the run takes no new jobs. */
  paused?: boolean;
  /** Broadcast mode: a paused sub-node holds the barrier (the next job waits for it everywhere). */
  barrier?: boolean;
  /** The head job waits for GPUs (issue 15), and why. */
  headWaiting?: { readonly job: number; readonly reason: string };
}

export function initialState(subnodes: readonly SubNodeRef[], now: number = Date.now()): ViewState {
  return {
    startedAt: now,
    subnodes: subnodes.map(rowFor),
    totals: { running: 0, done: 0, failed: 0, retried: 0 },
  };
}

function rowFor(ref: SubNodeRef): SubNodeView {
  return { ref, state: 'idle', jobs: new Map(), ...(ref.slots && ref.slots > 1 ? { occupancy: Array.from({ length: ref.slots }, () => false) } : {}) };
}

/** A sub-node's row: rows sit at their index until sub-nodes leave the run (hosts.yaml edits), then are looked up. */
function rowOf(state: ViewState, index: number): SubNodeView | undefined {
  const row = state.subnodes[index];
  return row?.ref.index === index ? row : state.subnodes.find((r) => r.ref.index === index);
}

/** Folds one event into the state; returns whether anything the panel shows changed. */
export function applyEvent(state: ViewState, event: RunEvent, now: number = Date.now()): boolean {
  switch (event.type) {
    case 'job-output':
      return false;
    case 'job-started': {
      const row = rowOf(state, event.subnode.index);
      if (row) {
        row.state = 'running';
        row.jobs.set(event.id, { command: event.command, since: now, attempt: event.attempt, ...(event.number === undefined ? {} : { number: event.number }), ...(event.slots ? { slots: event.slots } : {}) });
        if (row.occupancy) for (const i of event.slots ?? []) row.occupancy[i] = true;
      }
      state.totals.running += 1;
      state.lockedBy = undefined;
      state.waiting = undefined;
      return true;
    }
    case 'job-finished': {
      const row = rowOf(state, event.subnode.index);
      if (row?.jobs.delete(event.id)) {
        if (row.state === 'running' && row.jobs.size === 0) row.state = 'idle';
        if (row.occupancy) for (const i of event.slots ?? []) row.occupancy[i] = false;
      }
      state.totals.running = Math.max(0, state.totals.running - 1);
      const result = event.result;
      const ok = result.exitCode === 0 && !result.timedOut && !result.cancelled && !result.transportError;
      if (event.retrying) state.totals.retried += 1;
      else if (event.requeued) {
        // back in the queue: neither done nor failed
      } else if (ok) state.totals.done += 1;
      else state.totals.failed += 1;
      return true;
    }
    case 'steer': {
      // Sub-nodes' standings come as subnode-state events; the steer event says the run's.
      if (event.action === 'kill' || (event.targets ?? []).length > 0) return false;
      state.paused = event.action === 'pause';
      return true;
    }
    case 'subnode-added':
      if (!rowOf(state, event.subnode.index)) state.subnodes.push(rowFor(event.subnode));
      return true;
    case 'subnode-state': {
      const row = rowOf(state, event.subnode.index);
      if (!row) return false;
      if (event.state === 'removed') state.subnodes.splice(state.subnodes.indexOf(row), 1);
      else if (event.state === 'taking') delete row.standing;
      else row.standing = event.state;
      return true;
    }
    case 'subnode-slots': {
      const row = rowOf(state, event.subnode.index);
      if (!row) return false;
      row.ref = event.subnode;
      const slots = event.subnode.slots ?? 1;
      if (slots > 1) row.occupancy = Array.from({ length: slots }, (_, i) => row.occupancy?.[i] ?? false);
      else delete row.occupancy;
      return true;
    }
    case 'gpu-state': {
      const row = rowOf(state, event.subnode.index);
      if (!row) return false;
      row.gpus = event.gpus;
      return true;
    }
    case 'head-waiting':
      if (event.job === undefined || event.reason === undefined) delete state.headWaiting;
      else state.headWaiting = { job: event.job, reason: event.reason };
      return true;
    case 'hosts-reloaded':
    case 'hosts-error':
    case 'gpu-error':
    case 'hook-failed':
      return false; // said above the panel
    case 'host-connected':
    case 'host-reconnected':
      return setHost(state, event.host, (row) => (row.state === 'reconnecting' || row.state === 'down' ? (row.jobs.size > 0 ? 'running' : 'idle') : row.state));
    case 'host-lost':
      return setHost(state, event.host, () => 'reconnecting');
    case 'host-failed':
      return setHost(state, event.host, () => 'down');
    case 'queue-idle':
      state.waiting = 'queue-empty';
      state.lockedBy = undefined;
      return true;
    case 'queue-missing':
      state.waiting = 'queue-missing';
      return true;
    case 'queue-error':
      if (event.waiting) state.waiting = 'queue-broken';
      return event.waiting;
    case 'queue-size':
      if (state.totals.queued === event.entries) return false;
      state.totals.queued = event.entries;
      return true;
    case 'lock-notice':
      if (event.notice.kind !== 'waiting') return false;
      state.lockedBy = { ...(event.notice.owner ? { pid: event.notice.owner.pid, what: event.notice.owner.what } : {}) };
      return true;
    case 'stop-requested':
      state.stop = event.stage;
      return true;
    case 'job-unrunnable':
      state.totals.failed += 1;
      return true;
    case 'file-fault':
      return false; // its message is printed above the panel
  }
}

function setHost(state: ViewState, host: string, next: (row: SubNodeView) => SubNodeState): boolean {
  let changed = false;
  for (const row of state.subnodes) {
    if (row.ref.host !== host) continue;
    const state = next(row);
    if (state !== row.state) {
      row.state = state;
      changed = true;
    }
  }
  return changed;
}
