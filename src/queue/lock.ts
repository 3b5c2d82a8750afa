// The queue lock: one proper-lockfile lock per queue file, shared by every pegasus process, stale locks recovered.
import { stat } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { setTimeout as delay } from 'node:timers/promises';

/** A lock not refreshed for this long belongs to a dead process and is taken over (DESIGN invariant 3). */
export const STALE_MS = 4000;
/** How often the holder refreshes the lock's mtime; the event loop is never blocked while holding it. */
const UPDATE_MS = 1000;

/** Things worth telling the user about the lock; the CLI decides how to show them. */
export type LockNotice =
  | { readonly kind: 'waiting'; readonly lockPath: string; readonly sinceMs: number }
  | { readonly kind: 'stale-recovered'; readonly lockPath: string; readonly ageMs: number }
  | { readonly kind: 'compromised'; readonly lockPath: string; readonly message: string };

export interface LockOptions {
  readonly signal?: AbortSignal;
  readonly onNotice?: (notice: LockNotice) => void;
}

/** The path of the lock for a queue file (a directory, as proper-lockfile makes it; the Rust Pegasus uses the same name). */
export function lockPathOf(file: string): string {
  return `${file}.lock`;
}

/**
 * Runs `fn` while holding the queue lock, waiting for other holders (with backoff) and taking over
 * a lock whose holder stopped refreshing it. Released however `fn` ends.
 */
export async function withQueueLock<T>(file: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const release = await acquire(file, options);
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}

async function acquire(file: string, options: LockOptions): Promise<() => Promise<void>> {
  const lockPath = lockPathOf(file);
  const started = Date.now();
  let wait = 10;
  let toldWaiting = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const age = await lockAge(lockPath);
    try {
      const release = await lockfile.lock(file, {
        realpath: false,
        lockfilePath: lockPath,
        stale: STALE_MS,
        update: UPDATE_MS,
        retries: 0,
        onCompromised: (error: Error) => options.onNotice?.({ kind: 'compromised', lockPath, message: error.message }),
      });
      if (age !== undefined && age > STALE_MS) options.onNotice?.({ kind: 'stale-recovered', lockPath, ageMs: age });
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    }
    if (!toldWaiting && Date.now() - started >= 1000) {
      toldWaiting = true;
      options.onNotice?.({ kind: 'waiting', lockPath, sinceMs: Date.now() - started });
    }
    // Another process holds the lock; proper-lockfile offers no release event across processes.
    await delay(wait, undefined, options.signal ? { signal: options.signal } : {});
    wait = Math.min(wait * 2, 200);
  }
}

/** Milliseconds since the lock was last refreshed, or undefined when nobody holds it. */
async function lockAge(lockPath: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(lockPath)).mtimeMs;
  } catch {
    return undefined;
  }
}
