// Runs hooks (issue 16): locally, one at a time per kind, each with its timeout, never holding up the run; a failure is reported, never fatal.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { render } from '../config/template.js';
import { formatPlace } from '../errors.js';
import type { RunEvent } from '../run/events.js';
import { signalGroup } from '../exec/local-guard.js';
import type { Hook, HookKind } from './config.js';

/** What a hook is given: its template's variables, the same as PEGASUS_* variables, and as JSON on stdin. */
export type HookData = Readonly<Record<string, string>>;

/** A hook asked to stop (timeout, or pegasus exiting) is killed this long after its SIGTERM if it is still there. */
const KILL_AFTER_MS = 2000;

interface Chain {
  readonly hook: Hook;
  readonly queue: HookData[];
  running?: { readonly child: ChildProcess; readonly stop: () => void };
}

export interface HookRunnerOptions {
  readonly hooks: readonly Hook[];
  /** Each hook's output goes to `<dir>/<kind>-<n>.log`. */
  readonly logDir: string;
  readonly emit: (event: RunEvent) => void;
}

export class HookRunner {
  private readonly chains = new Map<HookKind, Chain>();
  private readonly options: HookRunnerOptions;
  private count = 0;
  private idleWaiters: (() => void)[] = [];
  private closing = false;

  constructor(options: HookRunnerOptions) {
    this.options = options;
    for (const hook of options.hooks) this.chains.set(hook.kind, { hook, queue: [] });
  }

  /** Whether a hook runs or waits to run. */
  get busy(): boolean {
    return [...this.chains.values()].some((c) => c.running || c.queue.length > 0);
  }

  /** Whether a hook of this kind is set. */
  has(kind: HookKind): boolean {
    return this.chains.has(kind);
  }

  /** Queues the hook of this kind (if any) with this data; returns at once. */
  fire(kind: HookKind, data: HookData): void {
    const chain = this.chains.get(kind);
    if (!chain || this.closing) return;
    chain.queue.push({ ...data, event: kind });
    if (!chain.running) this.next(chain);
  }

  /**
   * pegasus is exiting: hooks running or queued get their timeout (the longest of them) from now
   * to finish; then what still runs is stopped as a tree and what has not started is reported.
   */
  async close(): Promise<void> {
    this.closing = true;
    const busy = (): boolean => this.busy;
    if (!busy()) return;
    const longest = Math.max(...[...this.chains.values()].map((c) => c.hook.timeoutMs));
    const timer = setTimeout(() => {
      for (const chain of this.chains.values()) {
        for (const data of chain.queue.splice(0)) this.report(chain.hook, data, 'not run: pegasus was exiting and the hooks before it used up the time');
        chain.running?.stop();
      }
    }, longest);
    while (busy()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    clearTimeout(timer);
  }

  private next(chain: Chain): void {
    const data = chain.queue.shift();
    if (!data) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
      return;
    }
    const { hook } = chain;
    let command: string;
    try {
      command = render(hook.command, data, { field: hook.kind, place: hook.place });
    } catch (error) {
      this.report(hook, data, `${formatPlace(hook.place)}: ${(error as Error).message}`);
      this.next(chain);
      return;
    }
    const log = path.join(this.options.logDir, `${hook.kind}-${String(++this.count).padStart(4, '0')}.log`);
    let fd: number | 'ignore' = 'ignore';
    try {
      mkdirSync(this.options.logDir, { recursive: true });
      fd = openSync(log, 'a');
    } catch {
      // No log (full disk, read-only): the hook still runs; its output is dropped.
    }
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    for (const [key, value] of Object.entries(data)) env[`PEGASUS_${key.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`] = value;
    const child = spawn('sh', ['-c', command], { detached: true, stdio: ['pipe', fd, fd], env });
    if (typeof fd === 'number') closeSync(fd);
    const group = (signal: NodeJS.Signals): void => {
      if (child.pid !== undefined) signalGroup(child.pid, signal);
    };
    child.stdin?.on('error', () => {}); // a hook that does not read stdin
    child.stdin?.end(`${JSON.stringify(data)}\n`);
    let why: string | undefined;
    let killer: NodeJS.Timeout | undefined;
    const stop = (reason?: string): void => {
      if (why !== undefined) return;
      why = reason ?? 'stopped: pegasus was exiting';
      group('SIGTERM');
      killer = setTimeout(() => group('SIGKILL'), KILL_AFTER_MS);
    };
    const timer = setTimeout(() => stop(`timed out after ${hook.timeoutMs / 1000}s and was stopped`), hook.timeoutMs);
    chain.running = { child, stop: () => stop() };
    let over = false;
    const done = (code: number | null, signal: NodeJS.Signals | null, error?: Error): void => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      clearTimeout(killer);
      // What the hook started in its group goes with it.
      group('SIGKILL');
      chain.running = undefined;
      const failed = why ?? (error ? error.message : code === 0 ? undefined : signal ? `ended by ${signal}` : `exit ${code ?? '?'}`);
      if (failed !== undefined) this.report(hook, data, failed, typeof fd === 'number' ? log : undefined);
      this.next(chain);
    };
    child.once('error', (error) => done(null, null, error));
    child.once('exit', (code, signal) => done(code, signal));
  }

  private report(hook: Hook, data: HookData, message: string, log?: string): void {
    this.options.emit({ type: 'hook-failed', kind: hook.kind, message, ...(data['job'] ? { job: Number(data['job']) } : {}), ...(log ? { log } : {}) });
  }
}
