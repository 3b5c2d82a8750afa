// The run journal: JSON Lines recording each job when it is taken, started and finished, so a run that died can be accounted for.
import { randomBytes } from 'node:crypto';
import { appendFile, lstat, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { canonicalValue, type Job } from '../config/jobs.js';
import { asFileError } from '../errors.js';
import type { ExecResult } from '../exec/types.js';
import { makeDirs } from '../make-dirs.js';

/** One line of a journal file. */
export type JournalRecord =
  | {
      readonly t: 'taken';
      readonly id: string;
      readonly job: string | Record<string, string>;
      readonly at: number;
      /** The new queue file of the take, which exists until it is renamed in. */
      readonly pending?: string;
    }
  | { readonly t: 'started'; readonly id: string; readonly subnode: string; readonly attempt: number; readonly at: number; readonly slots?: readonly number[] }
  | {
      /** Jobs going back to the queue: `pending` is the rewrite's new queue file (null: the rewrite failed). */
      readonly t: 'returning';
      readonly ids: readonly string[];
      readonly pending: string | null;
      readonly at: number;
    }
  | {
      readonly t: 'finished';
      readonly id: string;
      readonly outcome: 'ok' | 'failed' | 'requeued';
      readonly exit?: number | null;
      readonly signal?: string | null;
      readonly at: number;
    };

/** A job an earlier run took and never finished (it died, or was killed). */
export interface InterruptedJob {
  /** The canonical form, as in consumed.yaml. */
  readonly job: string | Record<string, string>;
  /** Where it was running, if it had started. */
  readonly subnode?: string;
  readonly pid: number;
  /** Its id in the journal file that holds it. */
  readonly id: string;
  readonly file: string;
}

/** The journal folder of a queue: `.pegasus/journal/` beside the queue file. */
export function journalDirOf(queueFile: string): string {
  return path.join(path.dirname(queueFile), '.pegasus', 'journal');
}

/**
 * One run's journal, a file of its own (`<pid>-<random>.jsonl`) so that concurrent runs on one
 * queue never interleave. `taken` records are synced before the queue file is rewritten
 * (issue 5: no taken job can go unrecorded); the others are plain appends. A write that fails for
 * want of space or permission rejects with a FileError naming the journal (issue 13).
 */
export class Journal {
  /** The journal file, as messages name it. */
  readonly file: string;
  private readonly handle: FileHandle;
  private readonly ids = new WeakMap<Job, string>();
  /** Ids only need to be unique within this run's file. */
  private count = 0;
  /** Records waiting for the write in flight to finish; they go out together in one write. */
  private batch: string[] | undefined;
  private batchWritten: Promise<void> = Promise.resolve();
  private tail: Promise<void> = Promise.resolve();

  private constructor(file: string, handle: FileHandle) {
    this.file = file;
    this.handle = handle;
  }

  /** Opens this run's journal file. */
  static async open(dir: string): Promise<Journal> {
    await makeDirs(dir).catch(asFileError(dir));
    const file = path.join(dir, `${process.pid}-${randomBytes(4).toString('hex')}.jsonl`);
    return new Journal(file, await open(file, 'a').catch(asFileError(file)));
  }

  /**
   * Records jobs as taken, durably, before the queue rewrite; `pending` is the take's new queue
   * file. A run that died while it was still there had not taken them (see `stillOpen`).
   */
  async taken(jobs: readonly Job[], pending?: string): Promise<void> {
    const lines = jobs.map((job) => {
      const id = (++this.count).toString(36);
      this.ids.set(job, id);
      return line({ t: 'taken', id, job: canonicalValue(job), at: Date.now(), ...(pending === undefined ? {} : { pending }) });
    });
    await this.append(lines.join(''));
    await this.handle.sync().catch(asFileError(this.file));
  }

  /** Records that taken jobs stayed in the queue after all (its rewrite failed), so no later run reports them as interrupted. */
  async kept(jobs: readonly Job[]): Promise<void> {
    const lines = jobs.flatMap((job) => {
      const id = this.ids.get(job);
      return id ? [line({ t: 'finished', id, outcome: 'requeued', at: Date.now() })] : [];
    });
    if (lines.length > 0) await this.append(lines.join(''));
  }

  /** Records that jobs are going back to the queue, in the new queue file `pending` (see `QueueStoreOptions.onReturning`). */
  async returning(jobs: readonly Job[], pending: string | null): Promise<void> {
    const ids = jobs.flatMap((job) => this.ids.get(job) ?? []);
    if (ids.length > 0) await this.append(line({ t: 'returning', ids, pending, at: Date.now() }));
  }

  /** Records that a job started on a sub-node (with its slots, for `pegasus status`). */
  async started(job: Job, subnode: string, attempt: number, slots?: readonly number[]): Promise<void> {
    const id = this.ids.get(job);
    if (id) await this.append(line({ t: 'started', id, subnode, attempt, at: Date.now(), ...(slots && slots.length > 0 ? { slots } : {}) }));
  }

  /** Records how a job ended; a job put back in the queue counts as ended too. */
  async finished(job: Job, result: ExecResult, requeued: boolean): Promise<void> {
    const id = this.ids.get(job);
    if (!id) return;
    const outcome = requeued ? 'requeued' : result.exitCode === 0 && !result.timedOut && !result.cancelled ? 'ok' : 'failed';
    await this.append(line({ t: 'finished', id, outcome, exit: result.exitCode, signal: result.signal, at: Date.now() }));
  }

  async close(): Promise<void> {
    await this.tail;
    await this.handle.close();
  }

  /**
   * Appends records in order, one write at a time: records that arrive while a write is in flight
   * join the next one (issue 7: many jobs' records per write instead of one write each).
   */
  private append(text: string): Promise<void> {
    if (this.batch) {
      this.batch.push(text);
      return this.batchWritten;
    }
    const batch = [text];
    this.batch = batch;
    this.batchWritten = this.tail.then(async () => {
      this.batch = undefined;
      await this.handle.appendFile(batch.join('')).catch(asFileError(this.file));
    });
    this.tail = this.batchWritten.catch(() => undefined);
    return this.batchWritten;
  }
}

function line(record: JournalRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/**
 * Reads the journals of runs that are no longer alive: returns the jobs they took and never
 * finished, and the journal files that hold them. Journals with nothing left to tell are removed.
 */
export async function collectInterrupted(dir: string): Promise<{ readonly jobs: InterruptedJob[]; readonly files: string[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { jobs: [], files: [] };
  }
  const jobs: InterruptedJob[] = [];
  const files: string[] = [];
  for (const name of names) {
    const pid = pidOf(name);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    const file = path.join(dir, name);
    const open = await stillOpen(replay(await readFile(file, 'utf8')).open, true);
    if (open.size === 0) {
      await rm(file, { force: true });
      continue;
    }
    files.push(file);
    for (const [id, entry] of open) jobs.push({ job: entry.job, pid, id, file, ...(entry.subnode ? { subnode: entry.subnode } : {}) });
  }
  return { jobs, files };
}

/**
 * The jobs of a dead run's journal that are still open, less those it had not taken after all and
 * those it had put back: it died before renaming its last take's new queue file in (they are still
 * in the queue), or after renaming in the file that puts them back. With `remove`, a new queue file
 * left behind is removed.
 */
async function stillOpen(open: ReadonlyMap<string, OpenJob>, remove: boolean): Promise<Map<string, OpenJob>> {
  const left = new Map<string, OpenJob>();
  const stray = new Set<string>();
  for (const [id, entry] of open) {
    if (entry.returning !== undefined) {
      // Going back to the queue when the run died: back already once that file was renamed in.
      if (!(await exists(entry.returning))) continue;
      stray.add(entry.returning);
    }
    if (entry.pending !== undefined && !entry.subnode && (await exists(entry.pending))) stray.add(entry.pending);
    else left.set(id, entry);
  }
  if (remove) await Promise.all([...stray].map((file) => rm(file, { force: true })));
  return left;
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** A job a run took and has not finished, as its journal tells. */
export interface OpenJob {
  readonly job: string | Record<string, string>;
  readonly takenAt: number;
  /** The new queue file of its take (see `Journal.taken`). */
  readonly pending?: string;
  /** The new queue file that puts it back, when it was going back (see `Journal.returning`). */
  returning?: string;
  /** Set once it started on a sub-node. */
  subnode?: string;
  since?: number;
  attempt?: number;
  slots?: readonly number[];
}

/** A run on a queue, as its journal tells: alive or not, what it has taken and not finished. */
export interface RunRecord {
  readonly pid: number;
  readonly alive: boolean;
  readonly file: string;
  /** When it took its first job (epoch ms), if it took any. */
  readonly firstAt?: number;
  readonly open: readonly OpenJob[];
  readonly finished: number;
}

/** Every run that left a journal for this queue (`pegasus status`). */
export async function readRuns(dir: string): Promise<RunRecord[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const runs: RunRecord[] = [];
  for (const name of names) {
    const pid = pidOf(name);
    if (!pid) continue;
    const file = path.join(dir, name);
    const text = await readFile(file, 'utf8').catch(() => '');
    const { open, firstAt, finished } = replay(text);
    const alive = isAlive(pid);
    const left = alive ? open : await stillOpen(open, false);
    runs.push({ pid, alive, file, ...(firstAt === undefined ? {} : { firstAt }), open: [...left.values()], finished });
  }
  return runs.sort((a, b) => (a.firstAt ?? 0) - (b.firstAt ?? 0));
}

function pidOf(name: string): number | undefined {
  const pid = Number(/^(\d+)-[0-9a-f]+\.jsonl$/.exec(name)?.[1]);
  return pid > 0 ? pid : undefined;
}

/** Replays a journal: the jobs still open at its end, when it started, how many finished. */
function replay(text: string): { open: Map<string, OpenJob>; firstAt?: number; finished: number } {
  const open = new Map<string, OpenJob>();
  let firstAt: number | undefined;
  let finished = 0;
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    let record: JournalRecord;
    try {
      record = JSON.parse(raw) as JournalRecord;
    } catch {
      continue; // a line cut short by a crash
    }
    if (record.t === 'taken') {
      firstAt ??= record.at;
      open.set(record.id, { job: record.job, takenAt: record.at, ...(record.pending === undefined ? {} : { pending: record.pending }) });
    } else if (record.t === 'started') {
      const entry = open.get(record.id);
      if (entry) {
        entry.subnode = record.subnode;
        entry.since = record.at;
        entry.attempt = record.attempt;
        if (record.slots) entry.slots = record.slots;
      }
    } else if (record.t === 'returning') {
      for (const id of record.ids) {
        const entry = open.get(id);
        if (!entry) continue;
        if (record.pending === null) delete entry.returning;
        else entry.returning = record.pending;
      }
    } else if (open.delete(record.id)) finished += 1;
  }
  return { open, ...(firstAt === undefined ? {} : { firstAt }), finished };
}

/**
 * Records in dead runs' journals that their interrupted jobs are going back to the queue, in the new
 * queue file `pending` (null: that rewrite failed), so that a crash before the journals are forgotten
 * does not put them back twice.
 */
export async function markReturning(jobs: readonly InterruptedJob[], pending: string | null): Promise<void> {
  const byFile = new Map<string, string[]>();
  for (const job of jobs) byFile.set(job.file, [...(byFile.get(job.file) ?? []), job.id]);
  await Promise.all([...byFile].map(([file, ids]) => appendFile(file, line({ t: 'returning', ids, pending, at: Date.now() })).catch(asFileError(file))));
}

/** Forgets journals whose interrupted jobs have been put back in the queue. */
export async function forgetJournals(files: readonly string[]): Promise<void> {
  await Promise.all(files.map((file) => rm(file, { force: true })));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
