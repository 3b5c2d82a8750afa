// The sub-nodes' executors as the modes see them: connected once per host, a host that fails is reported once and left alone.
import { type SubNode } from '../config/hosts.js';
import { type TransportError } from '../errors.js';
import { type Executor } from '../exec/types.js';
import { type RunEvent, type SubNodeRef } from './events.js';

/** A connected executor, or why the host cannot be used. */
export type ExecutorOrError = { readonly executor: Executor } | { readonly error: TransportError };

/** Tracks which hosts are usable during a run. */
export class Sessions {
  private readonly executorFor: (subnode: SubNode) => Promise<ExecutorOrError>;
  private readonly emit: (event: RunEvent) => void;
  private readonly dead = new Set<string>();

  constructor(executorFor: (subnode: SubNode) => Promise<ExecutorOrError>, emit: (event: RunEvent) => void) {
    this.executorFor = executorFor;
    this.emit = emit;
  }

  /** The executor of a sub-node, or undefined when its host is unreachable (reported once per host). */
  async open(subnode: SubNode): Promise<Executor | undefined> {
    if (this.dead.has(subnode.host)) return undefined;
    const connection = await this.executorFor(subnode);
    if ('error' in connection) {
      this.markDead(subnode.host, connection.error);
      return undefined;
    }
    return connection.executor;
  }

  /** Records that a host failed (connection refused or lost); later jobs skip it. */
  markDead(host: string, error: TransportError): void {
    if (this.dead.has(host)) return;
    this.dead.add(host);
    this.emit({ type: 'host-failed', host, error });
  }

  isDead(host: string): boolean {
    return this.dead.has(host);
  }

  /** Hosts that failed, in the order they did. */
  get deadHosts(): readonly string[] {
    return [...this.dead];
  }
}

/** How events name a sub-node. */
export function refOf(subnode: SubNode): SubNodeRef {
  return { index: subnode.index, host: subnode.host, label: subnode.label };
}
