// Watching the queue file for changes (daemon mode): file events, never polling; a version number makes wake-ups race-free.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

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

  private constructor(file: string, watcher: FSWatcher) {
    this.file = file;
    this.watcher = watcher;
    // Every kind of save is a change: in-place writes, `>>` appends, truncate-then-write, and
    // editors that write a new file and rename it over the old one (seen as unlink + add).
    for (const event of ['add', 'change', 'unlink'] as const) this.watcher.on(event, () => this.onEvent());
  }

  /** Starts watching; resolves once the watcher is ready to report changes. */
  static async start(file: string): Promise<QueueWatcher> {
    // The folder is watched, not the file: a watch on the file itself lost track of it after two
    // quick rename-saves (an editor's, then our own pop), and missed every later in-place write.
    // atomic: false reports a rename-save at once instead of holding it back 100 ms to merge events.
    const target = path.resolve(file);
    const dir = path.dirname(target);
    const watcher = watch(dir, {
      ignoreInitial: true,
      atomic: false,
      persistent: true,
      depth: 0,
      ignored: (entry: string) => entry !== dir && entry !== target,
    });
    await new Promise<void>((resolve, reject) => {
      watcher.once('ready', resolve);
      watcher.once('error', reject);
    });
    return new QueueWatcher(file, watcher);
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
  private onEvent(): void {
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

  private bump(): void {
    this.current += 1;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
