// The sub-nodes' executors as the modes see them: connected once per host, a host that fails is reported once and left alone.
import type { SubNode } from '../config/hosts.js';
import type { TransportError } from '../errors.js';
import type { Executor } from '../exec/types.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { RunEvent, SubNodeRef } from './events.js';

/** Reconnection attempts after a lost connection before the host's sub-nodes are quarantined. */
const RECONNECT_TRIES = 3;

/** A connected executor, or why the host cannot be used. */
export type ExecutorOrError = { readonly executor: Executor } | { readonly error: TransportError };

/** Tracks which hosts are usable during a run. */
export class Sessions {
  private readonly executorFor: (subnode: SubNode) => Promise<ExecutorOrError>;
  private readonly emit: (event: RunEvent) => void;
  private readonly dead = new Set<string>();
  /** Lost and not reconnected because the run no longer needed them: not quarantined, but listed as lost. */
  private readonly abandoned = new Set<string>();
  private readonly connected = new Set<string>();
  private readonly reconnecting = new Map<string, Promise<boolean>>();

  constructor(executorFor: (subnode: SubNode) => Promise<ExecutorOrError>, emit: (event: RunEvent) => void) {
    this.executorFor = executorFor;
    this.emit = emit;
  }

  /**
   * The executor of a sub-node, or undefined when its host is unreachable (reported once per host)
   * or `signal` aborts first: a run that stops does not wait for a host still connecting.
   */
  async open(subnode: SubNode, signal?: AbortSignal): Promise<Executor | undefined> {
    if (this.dead.has(subnode.host) || signal?.aborted) return undefined;
    const connection = await untilAborted(this.executorFor(subnode), signal);
    if (!connection) return undefined;
    if ('error' in connection) {
      this.markDead(subnode.host, connection.error);
      return undefined;
    }
    if (!this.connected.has(subnode.host)) {
      this.connected.add(subnode.host);
      this.emit({ type: 'host-connected', host: subnode.host });
    }
    return connection.executor;
  }

  /** Records that a host failed (connection refused or lost); later jobs skip it. */
  markDead(host: string, error: TransportError): void {
    if (this.dead.has(host)) return;
    this.dead.add(host);
    this.emit({ type: 'host-failed', host, error });
  }

  /**
   * After a lost connection: reconnects with exponential backoff (1 s, 2 s, 4 s), shared by the
   * host's sub-nodes. Resolves with the executor once the host is back, or undefined when it is
   * quarantined (reported; the other hosts keep draining the queue) or `signal` gives up (the run
   * stops, or no job is left for the host): then it is listed as lost, and a connection attempt
   * in flight is abandoned rather than waited for (issue 13).
   */
  reconnect(subnode: SubNode, exec: Executor, lost: TransportError, signal?: AbortSignal): Promise<Executor | undefined> {
    let pending = this.reconnecting.get(subnode.host);
    if (!pending) {
      pending = this.reconnectHost(subnode.host, exec, lost, signal);
      this.reconnecting.set(subnode.host, pending);
      void pending.finally(() => this.reconnecting.delete(subnode.host));
    }
    return pending.then((ok) => (ok ? exec : undefined));
  }

  private async reconnectHost(host: string, exec: Executor, lost: TransportError, signal?: AbortSignal): Promise<boolean> {
    let error = lost;
    for (let attempt = 1; attempt <= RECONNECT_TRIES && exec.reconnect; attempt++) {
      const waitMs = 1000 * 2 ** (attempt - 1);
      this.emit({ type: 'host-lost', host, error, retryInMs: waitMs });
      try {
        await delay(waitMs, undefined, signal ? { signal } : {});
      } catch {
        return this.gaveUp(host);
      }
      const failure = await untilAborted(exec.reconnect(signal), signal);
      if (signal?.aborted) return this.gaveUp(host);
      if (!failure) {
        this.emit({ type: 'host-reconnected', host });
        return true;
      }
      error = failure;
    }
    this.markDead(host, error);
    return false;
  }

  /** A host lost and not reconnected because the run no longer needs it: listed with the lost hosts, nothing more said. */
  private gaveUp(host: string): false {
    this.abandoned.add(host);
    return false;
  }

  /** A host hung up on purpose (drained, removed): it is connected (and said so) afresh when it is used again. */
  forget(host: string): void {
    this.connected.delete(host);
  }

  isDead(host: string): boolean {
    return this.dead.has(host);
  }

  /** Hosts that failed, in the order they did, then those lost and given up at the end. */
  get deadHosts(): readonly string[] {
    return [...new Set([...this.dead, ...this.abandoned])];
  }
}

/** The promise's value, or undefined as soon as `signal` aborts (the promise itself carries on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** How events name a sub-node. */
export function refOf(subnode: SubNode): SubNodeRef {
  return { index: subnode.index, host: subnode.host, label: subnode.label, ...(subnode.slots !== 1 ? { slots: subnode.slots } : {}) };
}
