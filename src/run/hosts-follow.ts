// Live hosts.yaml (issue 14): while a run goes on, each saved edit of the hosts file is checked and applied to the run's roster.
import { readFile } from 'node:fs/promises';
import { parseHosts, type SubNode } from '../config/hosts.js';
import { ConfigError } from '../errors.js';
import { type QueueWatcher } from '../queue/watch.js';
import { type RunEvent } from './events.js';
import { type Roster } from './roster.js';

export interface HostsFollowOptions {
  readonly file: string;
  readonly watcher: QueueWatcher;
  readonly roster: Roster;
  readonly emit: (event: RunEvent) => void;
  /** Checks the queue's entries against the new sub-nodes (a clash of parameter names, a template the new hosts cannot render). */
  readonly check: (subnodes: readonly SubNode[]) => Promise<void>;
  readonly signal: AbortSignal;
}

/**
 * Follows the hosts file until `signal` aborts. A valid edit changes the roster (new sub-nodes
 * join, missing ones leave after their jobs); an invalid one is reported once and changes nothing
 * until the file is fixed. Nothing is read while the file does not change (file events, no polling).
 */
export async function followHosts(options: HostsFollowOptions): Promise<void> {
  const { file, watcher, roster, emit, signal } = options;
  let seen = await readFile(file, 'utf8').catch(() => undefined);
  while (!signal.aborted) {
    const version = watcher.version;
    await watcher.changedSince(version, signal);
    if (signal.aborted) return;
    const text = await readFile(file, 'utf8').catch((error: unknown) => error as NodeJS.ErrnoException);
    if (typeof text !== 'string') {
      // Deleted or being replaced: an editor's rename-save shows as a moment without the file. Nothing changes.
      if (text.code === 'ENOENT') continue;
      if (seen === undefined) continue;
      seen = undefined;
      emit({ type: 'hosts-error', error: new ConfigError(`Cannot read the hosts file ${file}: ${text.message}.`, { place: { file }, fix: 'Make it readable again; the run goes on with the hosts it has.', cause: text }) });
      continue;
    }
    if (text === seen) continue;
    seen = text;
    try {
      const next = parseHosts(text, file);
      await options.check(next);
      const change = roster.apply(next);
      if (change.added.length + change.removed.length + change.changed.length > 0) emit({ type: 'hosts-reloaded', file, ...change });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      emit({ type: 'hosts-error', error });
    }
  }
}
