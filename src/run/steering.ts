// What `pegasus kill`, `pause`, `resume` and `drain` change in a run (issue 14): per-job kill signals, and whether the run or a sub-node takes jobs.
import { setMaxListeners } from 'node:events';
import type { SubNode } from '../config/hosts.js';
import type { ControlReply, ControlRequest } from '../control/protocol.js';
import type { RunEvent } from './events.js';
import type { GpuWatch } from './gpu-watch.js';
import type { HeadWaiting } from './placement.js';
import type { RunTally } from './tally.js';
import type { Roster } from './roster.js';

/** How `pegasus kill` asked a job to end. */
export type KillKind = 'killed' | 'requeue';

interface Running {
  readonly number: number;
  readonly label: string;
  readonly controller: AbortController;
}

/**
 * The run's steering state. The modes ask it for each attempt's kill signal, and its roster whether a
 * sub-node may take a job; the control endpoint changes it. Nothing here stops a job by itself:
 * a kill aborts the attempt's signal, which the executor already obeys (DESIGN: no second way to stop).
 */
export class Steering {
  /** Who is in the run and where each one stands (pause, drain, hosts.yaml edits). */
  readonly roster: Roster;
  private readonly emit: (event: RunEvent) => void;
  private readonly running = new Set<Running>();
  private readonly kills = new Map<number, KillKind>();

  private readonly mode: 'queue' | 'broadcast';

  private readonly gpus: GpuWatch | undefined;

  private waiting: HeadWaiting | undefined;

  constructor(roster: Roster, emit: (event: RunEvent) => void, mode: 'queue' | 'broadcast' = 'queue', gpus?: GpuWatch) {
    this.roster = roster;
    this.emit = emit;
    this.mode = mode;
    this.gpus = gpus;
  }

  /** How the run's jobs ended, for `pegasus wait` (issue 16); set by the CLI. */
  tally: RunTally | undefined;

  /** Entries in the queue file now (set by the CLI): a wait for the queue does not end before the run has seen them. */
  queued: (() => Promise<number>) | undefined;

  private async wait(jobs: readonly number[] | undefined): Promise<ControlReply> {
    if (!this.tally) return { ok: false, error: 'this run cannot be waited for' };
    const unknown = (jobs ?? []).filter((n) => !this.tally?.knows(n));
    if (unknown.length > 0) return { ok: false, error: `job ${unknown.join(', ')} has not started in this run` };
    const answer = await this.tally.wait(jobs, jobs ? 0 : ((await this.queued?.()) ?? 0));
    return { ok: true, ...answer };
  }

  /** Why the head job waits for GPUs now (queue mode), for `pegasus status`. */
  noteWaiting(waiting: HeadWaiting | undefined): void {
    this.waiting = waiting;
  }

  /** The signal of one attempt of job `number` on a sub-node; call the returned end() when it is over. */
  attempt(number: number, subnode: SubNode): { readonly signal: AbortSignal; readonly end: () => void } {
    const entry: Running = { number, label: subnode.label, controller: new AbortController() };
    setMaxListeners(0, entry.controller.signal);
    this.running.add(entry);
    return { signal: entry.controller.signal, end: () => this.running.delete(entry) };
  }

  /** Whether (and how) `pegasus kill` ended job `number`. */
  killedAs(number: number): KillKind | undefined {
    return this.kills.get(number);
  }

  /** Whether the run as a whole takes jobs from the queue. */
  get taking(): boolean {
    return this.roster.taking;
  }

  /** Whether a sub-node may start a job now. */
  mayPlace(subnode: SubNode): boolean {
    return this.roster.mayPlace(subnode);
  }

  /** Resolves at the next change of taking (or when `signal` aborts). */
  changed(signal?: AbortSignal): Promise<void> {
    return this.roster.changed(signal);
  }

  /** Answers one control request. */
  handle(request: ControlRequest): ControlReply | Promise<ControlReply> {
    switch (request.op) {
      case 'jobs':
      case 'state':
        return {
          ok: true,
          mode: this.mode,
          jobs: this.jobs(),
          ...this.roster.holds,
          subnodes: this.subnodes(),
          gpus: this.gpus?.describe() ?? {},
          ...(this.waiting ? { waiting: this.waiting } : {}),
        };
      case 'kill':
        return this.kill(request.jobs, request.requeue);
      case 'wait':
        return this.wait(request.jobs);
      case 'pause':
      case 'resume':
      case 'drain':
        return this.hold(request.op, request.targets);
    }
  }

  private jobs(): { number: number; subnode: string }[] {
    return [...this.running].map((r) => ({ number: r.number, subnode: r.label }));
  }

  /** Each sub-node's standing and running job numbers. */
  private subnodes(): { label: string; host: string; standing: string; jobs: number[] }[] {
    return this.roster.list().map((s) => ({ ...s, jobs: [...this.running].filter((r) => r.label === s.label).map((r) => r.number) }));
  }

  private kill(numbers: readonly number[], requeue: boolean): ControlReply {
    const missing = numbers.filter((n) => ![...this.running].some((r) => r.number === n));
    // All or nothing: an unknown job changes nothing.
    if (missing.length > 0) return { ok: false, error: `not running here: job ${missing.join(', ')}` };
    for (const number of numbers) {
      this.kills.set(number, requeue ? 'requeue' : 'killed');
      for (const r of this.running) if (r.number === number) r.controller.abort();
      this.emit({ type: 'steer', action: 'kill', jobs: [number], requeue });
    }
    return { ok: true, killed: numbers };
  }

  private hold(op: 'pause' | 'resume' | 'drain', targets: readonly string[]): ControlReply {
    const unknown = targets.filter((t) => !this.roster.knows(t));
    if (unknown.length > 0) return { ok: false, error: `no such host or sub-node in this run: ${unknown.join(', ')}` };
    if (op === 'drain' && targets.length === 0) return { ok: false, error: 'drain needs a host' };
    this.emit({ type: 'steer', action: op, targets });
    this.roster.steer(op, targets);
    return { ok: true, ...this.roster.holds };
  }
}
