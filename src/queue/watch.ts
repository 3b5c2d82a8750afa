// Watching the queue file for changes (daemon mode): file events, never polling; a version number makes wake-ups race-free.
import { existsSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { locate } from './link.js';

/** Where a queue path leads now: itself when it is not a symlink; for a dangling link, where its target would be. */
async function targetOf(file: string): Promise<string> {
  const located = await locate(file).catch(() => ({ path: file, dangling: undefined }));
  if (located.dangling !== undefined) return path.resolve(path.dirname(file), located.dangling);
  return path.resolve(located.path);
}

/**
 * Late wake-ups after each event. fs.watch reports every inotify event, but a write can land just
 * after the event that announced an earlier one was handled (a push right after our own pop): a
 * waiter that found nothing re-reads the file once more shortly after.
 */
const TRAILING_MS = [60, 1100] as const;

/**
 * Counts changes to one file. A caller notes `version` before reading the file and, if it found
 * nothing to do, waits with `changedSince(version)`: a change that happened in between is not missed.
 *
 * The file's folder is watched with fs.watch and only events naming the file count. (chokidar did
 * this before, but re-read the whole folder on every event in it: a local run's own pops, temp files
 * and lock made that a tenth of its CPU time, issue 17.)
 */
export class QueueWatcher {
  /** One fs.watch per folder holding a watched path. */
  private readonly folders = new Map<string, FSWatcher>();
  private readonly file: string;
  private current = 0;
  private waiters: (() => void)[] = [];
  private readonly trailing = new Map<number, NodeJS.Timeout>();
  private closed = false;

  /** The paths whose events count: the queue path as given and, when it is a symlink, its target. */
  private readonly watched: Set<string>;

  private constructor(file: string, watched: Set<string>) {
    this.file = file;
    this.watched = watched;
  }

  /** Starts watching; resolves once the watcher is ready to report changes. */
  static async start(file: string): Promise<QueueWatcher> {
    // The folder is watched, not the file: a watch on the file itself loses track of it after a
    // rename-save (an editor's, or our own pop), and misses every later in-place write. Every kind of
    // save shows in the folder under the file's name: in-place writes, `>>` appends,
    // truncate-then-write, and a new file renamed over the old one.
    // A symlinked queue is watched in its target's folder too (issue 13: `>> real/q.yaml` went unseen).
    const given = path.resolve(file);
    const watcher = new QueueWatcher(file, new Set([given, await targetOf(given)]));
    for (const watched of watcher.watched) watcher.watchFolder(path.dirname(watched));
    return watcher;
  }

  /** Watches one folder (once); events for names not watched are dropped at once. */
  private watchFolder(dir: string): void {
    if (this.closed || this.folders.has(dir)) return;
    let folder: FSWatcher;
    try {
      folder = watch(dir, { persistent: true });
    } catch {
      // A folder that does not exist (a dangling link's): nothing to watch there until it is retargeted.
      return;
    }
    folder.on('change', (_kind, name) => {
      // No name (some platforms, an overflowed queue): count it, a waiter only re-reads the file.
      if (name === null || this.watched.has(path.join(dir, name.toString()))) void this.onEvent(path.join(dir, name?.toString() ?? ''));
    });
    // The folder was removed or became unreadable: stop watching it (as chokidar did).
    folder.on('error', () => {
      folder.close();
      this.folders.delete(dir);
    });
    this.folders.set(dir, folder);
  }

  /** How many changes have been seen so far. */
  get version(): number {
    return this.current;
  }

  /** Whether the queue file exists now. */
  exists(): boolean {
    return existsSync(this.file);
  }

  /** Resolves as soon as a change after `version` has been seen (at once if one has), or when `signal` aborts. */
  changedSince(version: number, signal?: AbortSignal): Promise<void> {
    if (this.current > version || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  /** Stops watching. */
  close(): Promise<void> {
    for (const timer of this.trailing.values()) clearTimeout(timer);
    for (const waiter of this.waiters) waiter();
    this.closed = true;
    for (const folder of this.folders.values()) folder.close();
    this.folders.clear();
    return Promise.resolve();
  }

  /**
   * Counts a change and wakes the waiters. Every event also schedules two late wake-ups: a waiter
   * then re-reads the file and sees a write that landed while it handled the event before (a push
   * just after our own pop, in the 4 x 50 push test). They follow events only, so an idle daemon
   * still uses no CPU.
   */
  private async onEvent(changed: string): Promise<void> {
    // The link itself changed (replaced, retargeted): follow it to the folder of its new target.
    if (changed === path.resolve(this.file)) await this.follow();
    this.bump();
    for (const delayMs of TRAILING_MS) {
      if (this.trailing.has(delayMs)) continue;
      const timer = setTimeout(() => {
        this.trailing.delete(delayMs);
        this.bump();
      }, delayMs);
      timer.unref();
      this.trailing.set(delayMs, timer);
    }
  }

  /** Starts watching the current target of the queue path when it is a link to a file not watched yet. */
  private async follow(): Promise<void> {
    const target = await targetOf(path.resolve(this.file));
    if (this.watched.has(target)) return;
    this.watched.add(target);
    this.watchFolder(path.dirname(target));
  }

  private bump(): void {
    this.current += 1;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
