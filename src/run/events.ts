// The run's event stream: everything the scheduler has to say, as values; ui/ turns them into text.
import type { Job } from '../config/jobs.js';
import type { ConfigError, FileError, TransportError } from '../errors.js';
import type { ExecResult, StreamName } from '../exec/types.js';
import type { LockNotice } from '../queue/lock.js';
import type { GpuView } from './gpu-watch.js';
import type { Standing } from './roster.js';

/** A sub-node as events name it. */
export interface SubNodeRef {
  readonly index: number;
  readonly host: string;
  readonly label: string;
  /** Slots it offers (default 1). */
  readonly slots?: number;
}

export type RunEvent =
  | { readonly type: 'host-connected'; readonly host: string }
  /** The host cannot be used: unreachable at start, refused (host key, auth), or quarantined after reconnects failed. */
  | { readonly type: 'host-failed'; readonly host: string; readonly error: TransportError }
  /** The connection to a host was lost; pegasus tries again after `retryInMs`. */
  | { readonly type: 'host-lost'; readonly host: string; readonly error: TransportError; readonly retryInMs: number }
  | { readonly type: 'host-reconnected'; readonly host: string }
  | {
      readonly type: 'job-started';
      readonly id: number;
      readonly subnode: SubNodeRef;
      readonly job: Job;
      readonly command: string;
      /** 1 for the first try; more when the job is retried after a transport failure. */
      readonly attempt: number;
      /** The slots of the sub-node it was given (`{{slots}}`). */
      readonly slots?: readonly number[];
      /** The job's number in this run, in the order jobs were taken (`{{@job}}`); the same for each attempt. */
      readonly number?: number;
    }
  | { readonly type: 'job-output'; readonly id: number; readonly subnode: SubNodeRef; readonly stream: StreamName; readonly line: string }
  | {
      readonly type: 'job-finished';
      readonly id: number;
      readonly subnode: SubNodeRef;
      readonly job: Job;
      readonly command: string;
      readonly result: ExecResult;
      /** The job went back to the head of the queue (it was cancelled). */
      readonly requeued: boolean;
      /** The job will be tried again (its connection failed, or --retry-failed), on any sub-node. */
      readonly retrying?: boolean;
      readonly attempt?: number;
      readonly slots?: readonly number[];
    }
  /** A job that needs more slots than any sub-node offers: not run, recorded in failed.yaml; the queue goes on. */
  | { readonly type: 'job-unrunnable'; readonly job: Job; readonly reason: string; readonly number?: number }
  /** A bad entry at the head; `waiting`: the daemon waits for the file to be fixed, else the run stops. */
  | { readonly type: 'queue-error'; readonly error: ConfigError; readonly waiting: boolean }
  /** Daemon mode: the queue is empty, waiting for it to change. */
  | { readonly type: 'queue-idle'; readonly file: string }
  /** Daemon mode: the queue file was deleted, waiting for it to come back. */
  | { readonly type: 'queue-missing'; readonly file: string }
  | { readonly type: 'lock-notice'; readonly notice: LockNotice }
  /** How many entries the queue file holds, counted now and then (never per job: the count reads the file). */
  | { readonly type: 'queue-size'; readonly entries: number }
  /**
   * A file could not be written (full, read-only, forbidden; issue 13). `stopping`: a queue file, so
   * the run takes no more jobs; otherwise a job log, and the run goes on without it (said once).
   */
  | { readonly type: 'file-fault'; readonly error: FileError; readonly stopping: boolean }
  /** Ctrl-C or SIGTERM: `drain` takes no more jobs and lets running ones finish; `cancel` stops them too. */
  | { readonly type: 'stop-requested'; readonly stage: 'drain' | 'cancel' }
  /** The control endpoint changed the run (issue 14): a job killed, the run or some hosts/sub-nodes paused, resumed or drained. */
  | {
      readonly type: 'steer';
      readonly action: 'kill' | 'pause' | 'resume' | 'drain';
      readonly jobs?: readonly number[];
      readonly requeue?: boolean;
      readonly targets?: readonly string[];
    }
  /** A sub-node joined the run after it started (hosts.yaml gained it). */
  | { readonly type: 'subnode-added'; readonly subnode: SubNodeRef }
  /** Where a sub-node stands changed: paused, draining, drained (its host hung up), removing, removed, or taking again. */
  | { readonly type: 'subnode-state'; readonly subnode: SubNodeRef; readonly state: Standing }
  /** hosts.yaml changed during the run and was applied. */
  | { readonly type: 'hosts-reloaded'; readonly file: string; readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] }
  /** A `slots: auto` sub-node's GPUs were counted (issue 15): `subnode.slots` says how many slots it has now. */
  | { readonly type: 'subnode-slots'; readonly subnode: SubNodeRef; readonly gpus: readonly number[] }
  /** What each GPU of a `slots: auto` sub-node is now: free, ours (job numbers) or busy (someone else's). */
  | { readonly type: 'gpu-state'; readonly subnode: SubNodeRef; readonly gpus: readonly GpuView[] }
  /** The head job waits for GPUs (issue 15): why, e.g. "needs 2 free GPUs; node3 has 1"; `job` absent once nothing waits for them. */
  | { readonly type: 'head-waiting'; readonly job?: number; readonly reason?: string }
  /** A hook (issue 16) failed, timed out, or could not run: reported, never fatal. */
  | { readonly type: 'hook-failed'; readonly kind: string; readonly message: string; readonly job?: number; readonly log?: string }
  /** nvidia-smi failed on a host (missing, driver not loaded, bad output): its GPU sub-nodes take no job while it does. */
  | { readonly type: 'gpu-error'; readonly host: string; readonly message: string }
  /** hosts.yaml changed and is not valid: nothing changed; said once per bad version. */
  | { readonly type: 'hosts-error'; readonly error: ConfigError };

/** A job that did not succeed, for the end summary. */
export interface FailedJob {
  /** The id of its last attempt, as in the job events (its log file is named by it). */
  readonly id: number;
  readonly subnode: SubNodeRef;
  readonly command: string;
  readonly result: ExecResult;
  readonly requeued: boolean;
  /** How many times it was tried. */
  readonly attempts?: number;
}

/** How a run ended. */
export interface RunSummary {
  readonly succeeded: number;
  readonly failed: readonly FailedJob[];
  /** Hosts that could not be reached or were lost. */
  readonly deadHosts: readonly string[];
  /** A bad entry stopped the run; it is still at the head of the queue. */
  readonly queueError?: ConfigError;
  /** True when jobs may remain queued because no sub-node was left to run them. */
  readonly stranded: boolean;
  /** Jobs that were waiting for a retry when the run ended, put back at the head of the queue. */
  readonly putBack?: number;
  /** Jobs that needed a second attempt or more. */
  readonly retried?: number;
  /** Files of the queue that could not be written; the first one stopped the run taking jobs (exit 1). */
  readonly fileFaults?: readonly FileError[];
  /** Jobs not run because no sub-node offers the slots they need. */
  readonly unrunnable?: readonly { readonly command: string; readonly slots: number; readonly reason: string }[];
  readonly durationMs: number;
}

/** One job on one sub-node; no result means the sub-node was skipped (its host was down). */
export interface BroadcastCell {
  readonly subnode: SubNodeRef;
  readonly result?: ExecResult;
  /** Why it did not run there, when it was not for a dead host (e.g. too few slots). */
  readonly skipped?: string;
  /** It was out of the run for this job: drained, or removed from hosts.yaml (issue 14). */
  readonly absent?: 'drained' | 'removed';
}

/** One job broadcast to every sub-node. */
export interface BroadcastRound {
  readonly job: Job;
  readonly cells: readonly BroadcastCell[];
}

export interface BroadcastSummary extends RunSummary {
  readonly rounds: readonly BroadcastRound[];
  /** Sub-nodes whose host could not be reached at start. */
  readonly unreachable: readonly SubNodeRef[];
  /** -e stopped the run after a failure. */
  readonly aborted: boolean;
}

