// Live hosts.yaml (issue 14): while a run goes on, each saved edit of the hosts file is checked and applied to the run's roster.
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { parseHosts, type SubNode } from '../config/hosts.js';
import { ConfigError } from '../errors.js';
import type { QueueWatcher } from '../queue/watch.js';
import type { RunEvent } from './events.js';
import type { Roster } from './roster.js';

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
  let version = watcher.version;
  while (!signal.aborted) {
    await watcher.changedSince(version, signal);
    if (signal.aborted) return;
    // Noted before reading: a change during the read or the settling wakes the next wait at once.
    version = watcher.version;
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
    // A save caught half-way (truncated, then written) must not remove hosts or be called an error:
    // an edit is used once the file has stayed the same for a moment.
    if ((await settledText(file, text, signal)) !== text || signal.aborted) continue; // it changed again: the next round reads it
    seen = text;
    const outcome = await evaluate(text, file, options.check);
    if (outcome instanceof ConfigError) {
      emit({ type: 'hosts-error', error: outcome });
      continue;
    }
    const change = roster.apply(outcome);
    if (change.added.length + change.removed.length + change.changed.length > 0) emit({ type: 'hosts-reloaded', file, ...change });
  }
}

/** The new sub-nodes, or why the text cannot be used. */
async function evaluate(text: string, file: string, check: (subnodes: readonly SubNode[]) => Promise<void>): Promise<SubNode[] | ConfigError> {
  try {
    const next = parseHosts(text, file);
    await check(next);
    return next;
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

/** How long a bad hosts file must stay unchanged before it is reported (a writer may still be writing it). */
const SETTLE_MS = 200;

/** The file's text once it has not changed for SETTLE_MS (or what it was when `signal` aborted). */
async function settledText(file: string, text: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    await delay(SETTLE_MS, undefined, { signal });
  } catch {
    return text;
  }
  return readFile(file, 'utf8').catch(() => undefined);
}
