// Watching the queue file for changes (daemon mode): file events, never polling; a version number makes wake-ups race-free.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { locate } from './link.js';

/** Where a queue path leads now: itself when it is not a symlink; for a dangling link, where its target would be. */
async function targetOf(file: string): Promise<string> {
  const located = await locate(file).catch(() => ({ path: file, dangling: undefined }));
  if (located.dangling !== undefined) return path.resolve(path.dirname(file), located.dangling);
  return path.resolve(located.path);
}

/** Late wake-ups after each event, past chokidar's 50 ms change throttle and 1 s folder re-read throttle. */
const TRAILING_MS = [60, 1100] as const;

/**
 * Counts changes to one file. A caller notes `version` before reading the file and, if it found
 * nothing to do, waits with `changedSince(version)`: a change that happened in between is not missed.
 */
export class QueueWatcher {
  private readonly watcher: FSWatcher;
  private readonly file: string;
  private current = 0;
  private waiters: (() => void)[] = [];
  private readonly trailing = new Map<number, NodeJS.Timeout>();

  /** The paths whose events count: the queue path as given and, when it is a symlink, its target. */
  private readonly watched: Set<string>;

  private constructor(file: string, watcher: FSWatcher, watched: Set<string>) {
    this.file = file;
    this.watcher = watcher;
    this.watched = watched;
    // Every kind of save is a change: in-place writes, `>>` appends, truncate-then-write, and
    // editors that write a new file and rename it over the old one (seen as unlink + add).
    for (const event of ['add', 'change', 'unlink'] as const) this.watcher.on(event, (changed: string) => void this.onEvent(changed));
  }

  /** Starts watching; resolves once the watcher is ready to report changes. */
  static async start(file: string): Promise<QueueWatcher> {
    // The folder is watched, not the file: a watch on the file itself lost track of it after two
    // quick rename-saves (an editor's, then our own pop), and missed every later in-place write.
    // A symlinked queue is watched in its target's folder too (issue 13: `>> real/q.yaml` went unseen).
    // atomic: false reports a rename-save at once instead of holding it back 100 ms to merge events.
    const given = path.resolve(file);
    const watched = new Set([given, await targetOf(given)]);
    const watcher = watch([...new Set([...watched].map((p) => path.dirname(p)))], {
      ignoreInitial: true,
      atomic: false,
      persistent: true,
      depth: 0,
      // Not through links: the link's own events are what says it was replaced or retargeted.
      followSymlinks: false,
      // Only the watched files and their folders (`watched` grows when the link is retargeted).
      ignored: (entry: string) => !watched.has(entry) && ![...watched].some((p) => path.dirname(p) === entry),
    });
    await new Promise<void>((resolve, reject) => {
      watcher.once('ready', resolve);
      watcher.once('error', reject);
    });
    return new QueueWatcher(file, watcher, watched);
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
    return this.watcher.close();
  }

  /**
   * Counts a change and wakes the waiters. chokidar drops a 'change' that follows another within
   * 50 ms (and re-reads a folder at most once a second), so every event also schedules two late
   * wake-ups past those windows: a waiter then re-reads the file and sees a write whose event was
   * swallowed (a push landing just after our own pop did, in the 4 x 50 push test). They follow
   * events only, so an idle daemon still uses no CPU.
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
    this.watcher.add(path.dirname(target));
  }

  private bump(): void {
    this.current += 1;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
