// The queue lock: one proper-lockfile lock per queue file, shared by every pegasus process, stale locks recovered.
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { setTimeout as delay } from 'node:timers/promises';
import { asFileError, fileErrorOf } from '../errors.js';
import { locate } from './link.js';

/** A lock not refreshed for this long belongs to a dead process and is taken over (DESIGN invariant 3). */
export const STALE_MS = 4000;
/** How often the holder refreshes the lock's mtime; the event loop is never blocked while holding it. */
const UPDATE_MS = 1000;
/** The staleness given to the first, stat-free try: it never takes a lock over. */
const NEVER_STALE = 2 ** 31;

/** Who holds the lock for a long time (lock mode), recorded beside it so waiters can say so. */
export interface LockOwner {
  readonly pid: number;
  /** What holds it, e.g. "pegasus l (editing)". */
  readonly what: string;
  /** Epoch milliseconds. */
  readonly since: number;
}

/** Things worth telling the user about the lock; the CLI decides how to show them. */
export type LockNotice =
  | { readonly kind: 'waiting'; readonly lockPath: string; readonly sinceMs: number; readonly owner?: LockOwner }
  | { readonly kind: 'stale-recovered'; readonly lockPath: string; readonly ageMs: number }
  | { readonly kind: 'compromised'; readonly lockPath: string; readonly message: string };

export interface LockOptions {
  readonly signal?: AbortSignal;
  readonly onNotice?: (notice: LockNotice) => void;
  /** Record who holds the lock while `fn` runs (for long holds such as lock mode). */
  readonly owner?: string;
}

/** The path of the lock for a queue file (a directory, as proper-lockfile makes it; the Rust Pegasus uses the same name). */
export function lockPathOf(file: string): string {
  return `${file}.lock`;
}

/**
 * The file whose lock guards `file`: its symlink target, resolved now, so that a link and the real
 * path share one lock (issue 13). A file that does not exist (or a dangling link) is locked by its own name.
 */
export async function lockedFileOf(file: string): Promise<string> {
  return (await locate(file)).path;
}

/** The file beside the lock that names its long-term holder. */
function ownerPathOf(file: string): string {
  return `${file}.lock-owner`;
}

/** The recorded holder of a queue's lock, if the lock is held by a live process that recorded itself. */
export async function lockOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const locked = await lockedFileOf(file);
    const owner = JSON.parse(await readFile(ownerPathOf(locked), 'utf8')) as LockOwner;
    process.kill(owner.pid, 0); // throws when that process is gone: a leftover record
    await stat(lockPathOf(locked));
    return owner;
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` while holding the queue lock, waiting for other holders (with backoff) and taking over
 * a lock whose holder stopped refreshing it. Released however `fn` ends. `fn` is given the file the
 * lock guards (the symlink target, resolved once for this hold): read and write that one.
 */
export async function withQueueLock<T>(file: string, fn: (locked: string) => Promise<T>, options: LockOptions = {}): Promise<T> {
  const locked = await lockedFileOf(file);
  const release = await acquire(locked, options);
  const ownerPath = ownerPathOf(locked);
  try {
    if (options.owner) {
      const owner: LockOwner = { pid: process.pid, what: options.owner, since: Date.now() };
      await writeFile(ownerPath, `${JSON.stringify(owner)}\n`).catch(asFileError(ownerPath));
    }
    return await fn(locked);
  } finally {
    if (options.owner) await rm(ownerPath, { force: true });
    await release().catch(() => undefined);
  }
}

async function acquire(file: string, options: LockOptions): Promise<() => Promise<void>> {
  const lockPath = lockPathOf(file);
  const started = Date.now();
  let wait = 10;
  let toldWaiting = false;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    // The first try takes only a free lock and costs no stat (issue 7: the per-pop I/O); once the
    // lock is found held, its age decides whether it is taken over, and the user is told.
    const age = attempt === 0 ? undefined : await lockAge(lockPath);
    const stale = age !== undefined && age > STALE_MS;
    try {
      const release = await lockfile.lock(file, {
        realpath: false,
        lockfilePath: lockPath,
        stale: attempt === 0 ? NEVER_STALE : STALE_MS,
        update: UPDATE_MS,
        retries: 0,
        onCompromised: (error: Error) => options.onNotice?.({ kind: 'compromised', lockPath, message: error.message }),
      });
      if (stale) options.onNotice?.({ kind: 'stale-recovered', lockPath, ageMs: age });
      return release;
    } catch (error) {
      // The lock is a folder beside the queue file: a read-only, full or forbidden folder stops here (issue 13).
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw fileErrorOf(error, lockPath) ?? error;
    }
    if (attempt === 0) continue;
    if (!toldWaiting && Date.now() - started >= 1000) {
      toldWaiting = true;
      const owner = await lockOwner(file);
      options.onNotice?.({ kind: 'waiting', lockPath, sinceMs: Date.now() - started, ...(owner ? { owner } : {}) });
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
