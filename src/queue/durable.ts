// Durable writes of the queue's files: appends synced before returning, and atomic replacement (temp file, fsync, rename, folder fsync).
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { writablePath } from './link.js';

/**
 * A file that is only ever appended to (consumed.yaml), kept open across appends so that each
 * costs a stat, a write and an fsync (issue 7: the per-pop I/O). It is reopened when the path
 * no longer names the open file (removed, moved or replaced meanwhile), and every append starts
 * on a fresh line even if someone else left the file without a final newline. A symlink is
 * followed by both the stat and the open, so appends go to its current target and the link stays.
 */
export class AppendFile {
  readonly file: string;
  private handle: FileHandle | undefined;
  /** The identity (device and inode) of the open file. */
  private ino = -1;
  private dev = -1;
  /** The size the file had after our last append; another size means someone else wrote to it. */
  private end = -1;

  constructor(file: string) {
    this.file = file;
  }

  /** Appends `text` and syncs it to disk before returning. */
  async append(text: string): Promise<void> {
    const now = await stat(this.file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    let size = now?.size ?? 0;
    if (!this.handle || !now || now.ino !== this.ino || now.dev !== this.dev) {
      await this.close();
      const handle = await open(this.file, 'a+');
      const opened = await handle.stat();
      this.handle = handle;
      this.ino = opened.ino;
      this.dev = opened.dev;
      size = opened.size;
    }
    let prefix = '';
    if (size > 0 && size !== this.end) {
      const last = Buffer.alloc(1);
      await this.handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    const data = Buffer.from(prefix + text);
    try {
      // A write may be cut short (a disk filling up): write the rest, or fail with the reason.
      for (let done = 0; done < data.length; ) done += (await this.handle.write(data, done)).bytesWritten;
      await this.handle.sync();
    } catch (error) {
      // Leave no half entry behind (issue 13: a full disk); the caller keeps the job in the queue.
      await this.handle.truncate(size).catch(() => undefined);
      this.end = -1;
      throw error;
    }
    this.end = size + data.length;
  }

  /**
   * Takes `text` back off the end of the file, if it is still the end of our last append and nobody
   * wrote after it (issue 17: jobs read ahead and given back never ran). Says whether it did; a file
   * that changed meanwhile keeps it.
   */
  async retract(text: string): Promise<boolean> {
    const data = Buffer.from(text);
    if (!this.handle || this.end < data.length) return false;
    const now = await stat(this.file).catch(() => undefined);
    if (!now || now.ino !== this.ino || now.dev !== this.dev || now.size !== this.end) return false;
    const tail = Buffer.alloc(data.length);
    await this.handle.read(tail, 0, data.length, this.end - data.length);
    if (!tail.equals(data)) return false;
    await this.handle.truncate(this.end - data.length);
    await this.handle.sync();
    this.end -= data.length;
    return true;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.ino = this.dev = this.end = -1;
    await handle?.close();
  }
}

/** Appends text to a file and syncs it to disk before returning, starting on a fresh line (for files written rarely). */
export async function appendDurably(file: string, text: string): Promise<void> {
  const once = new AppendFile(file);
  try {
    await once.append(text);
  } finally {
    await once.close();
  }
}

/** A new content written and synced beside a file, waiting to replace it (see `replaceAtomically`). */
export interface Staged {
  /** Renames the temporary file over the target and syncs the folder. */
  commit(): Promise<void>;
  /** Renames the temporary file over the target; `synced` resolves once the folder is synced. */
  rename(): Promise<{ readonly synced: Promise<void> }>;
  /** Removes the temporary file (the target stays as it was). */
  discard(): Promise<void>;
}

/** A temporary file created beside a file, to be filled with its new content (see `stage`). */
export interface Stage {
  /** The temporary file's path; it exists from now until it is renamed over the target or discarded. */
  readonly temp: string;
  /** Writes and syncs the new content; on failure the file stays until `discard`. */
  fill(data: string | Buffer): Promise<Staged>;
  /** Removes the temporary file. */
  discard(): Promise<void>;
}

/**
 * Creates the temporary file beside the file `given` names, with the given permission bits (the
 * current file's when omitted). `tag` makes its name unique to one write of this process, so that a
 * record naming it can later tell whether that write was renamed in (issue 17: a take's journal
 * record). When `given` is a symlink, the temporary file is created beside its target and renamed
 * over the target, so the link stays a link (issue 13); a dangling link is a ConfigError.
 */
export async function openStage(given: string, options: { readonly mode?: number; readonly tag?: string } = {}): Promise<Stage> {
  const file = await writablePath(given);
  const dir = path.dirname(file);
  const temp = path.join(dir, tempNameOf(path.basename(file), process.pid, options.tag));
  const bits =
    options.mode ??
    (await stat(file).then(
      (s) => s.mode & 0o777,
      () => 0o644,
    ));
  const handle = await open(temp, 'w', bits);
  return {
    temp,
    fill: async (data) => {
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return staged(temp, file, dir);
    },
    discard: () => unlink(temp).catch(() => undefined),
  };
}

/** The name of a temporary file of process `pid` beside the file named `base`. */
function tempNameOf(base: string, pid: number, tag?: string): string {
  return `.${base}.${pid}${tag === undefined ? '' : `.${tag}`}.tmp`;
}

/** Writes and syncs `data` to a temporary file beside the file `given` names (see `openStage`); nothing changes for its readers until `commit`. */
export async function stage(given: string, data: string | Buffer, mode?: number): Promise<Staged> {
  const opened = await openStage(given, mode === undefined ? {} : { mode });
  return opened.fill(data).catch(async (error: unknown) => {
    await opened.discard();
    throw error;
  });
}

function staged(temp: string, file: string, dir: string): Staged {
  return {
    commit: async () => {
      await rename(temp, file);
      await syncFolder(dir);
    },
    rename: async () => {
      await rename(temp, file);
      const synced = syncFolder(dir);
      synced.catch(() => undefined); // the caller may let it go
      return { synced };
    },
    discard: () => unlink(temp).catch(() => undefined),
  };
}

/** Makes the folder's entries (a rename) durable. */
async function syncFolder(dir: string): Promise<void> {
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** Replaces a file's content atomically: temporary file beside it, fsync, rename, fsync of the folder. */
export async function replaceAtomically(file: string, data: string | Buffer): Promise<void> {
  await (await stage(file, data)).commit();
}
