// The queue file and consumed.yaml: taking jobs from the head, putting jobs back, with the write order that loses nothing.
import { randomBytes } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isScalar, isSeq, type ParsedNode } from 'yaml';
import { canonicalText, canonicalValue, expandEntry, readEntry, type Entry, type Job } from '../config/jobs.js';
import { kindOf, parseYaml, scalarText, splitBom } from '../config/yaml.js';
import { asFileError, ConfigError, FileError, fileErrorOf } from '../errors.js';
import { AppendFile, appendDurably, openStage, replaceAtomically } from './durable.js';
import { scanHead, scanHeadBytes } from './head.js';
import { withQueueLock, type LockNotice } from './lock.js';

/** The queue file and its companions, which live beside it. */
export interface QueueFiles {
  readonly queue: string;
  readonly consumed: string;
  /** Jobs that failed, in canonical form, so `cat failed.yaml >> queue.yaml` reruns them. */
  readonly failed: string;
}

/** The files of a queue: `consumed.yaml` sits beside the queue file (issue 3: --queue-file moves both). */
export function queueFilesOf(queueFile: string): QueueFiles {
  // Kept as the user wrote it (relative to the working directory) so messages name it the same way.
  const dir = path.dirname(queueFile);
  return { queue: queueFile, consumed: path.join(dir, 'consumed.yaml'), failed: path.join(dir, 'failed.yaml') };
}

/** Jobs taken from the head, and the problem that stopped taking more, if any. */
export interface Taken {
  readonly jobs: readonly Job[];
  /** A bad head entry: it stays in the queue, and the run should stop popping. */
  readonly error?: ConfigError;
  /** The queue file does not exist (it was deleted). */
  readonly missing?: boolean;
}

export interface QueueStoreOptions {
  /** Validates an entry before any of its jobs is taken (parameters, templates on every sub-node). */
  readonly check: (entry: Entry) => void;
  /**
   * Records taken jobs (the run journal) before the queue is rewritten. `pending` is the new queue
   * file, which exists until it is renamed in: a run that died with it still there had not taken them.
   */
  readonly onTaken?: (jobs: readonly Job[], pending: string) => Promise<void>;
  /** Jobs `onTaken` recorded stayed in the queue after all (its rewrite failed): the journal should forget them. */
  readonly onKept?: (jobs: readonly Job[]) => Promise<void>;
  /**
   * Records that jobs are going back to the queue (a put-back or give-back) before the rename that
   * puts them there: `pending` is the new queue file, which exists until it is renamed in. A run that
   * died with it gone had put them back; with it still there, it had not.
   */
  readonly onReturning?: (jobs: readonly Job[], pending: string) => Promise<void>;
  /** The jobs `onReturning` recorded did not go back after all (the rewrite failed). */
  readonly onNotReturned?: (jobs: readonly Job[]) => Promise<void>;
  readonly onLockNotice?: (notice: LockNotice) => void;
}

/** Tells a journal about a rewrite that brings jobs back to the queue, before and (when it fails) after. */
export interface ReturnRecord {
  /** The rewrite's new queue file exists, under this name, until it is renamed in. */
  pending(temp: string): Promise<void>;
  /** The rewrite failed: the jobs did not go back. */
  failed(): Promise<void>;
}

/**
 * The live queue of one run. Every read-modify-write happens under the queue lock, one at a time
 * within this process, and follows DESIGN invariant 1: consumed.yaml is appended and synced before
 * the queue file is atomically replaced, so a crash at any instant loses no entry. A file that
 * cannot be written (full, read-only, forbidden) rejects with a FileError saying where the jobs
 * involved are now (issue 13).
 */
export class QueueStore {
  readonly files: QueueFiles;
  private readonly options: QueueStoreOptions;
  private tail: Promise<unknown> = Promise.resolve();
  /** consumed.yaml, kept open for the run. */
  private readonly consumed: AppendFile;
  /** Names the new queue file of each take and put-back uniquely (see `onTaken`, `onReturning`). */
  private readonly tag = randomBytes(3).toString('hex');
  private rewrites = 0;
  /** The text of the entry each job came from, when all of that entry's jobs were taken at once (for giveBack). */
  private readonly written = new WeakMap<Job, { readonly text: string; readonly jobs: readonly Job[] }>();

  constructor(files: QueueFiles, options: QueueStoreOptions) {
    this.files = files;
    this.options = options;
    this.consumed = new AppendFile(files.consumed);
  }

  /** Takes up to `max` jobs from the head (bursting a parametrized entry), recording them in consumed.yaml. */
  take(max: number, signal?: AbortSignal): Promise<Taken> {
    // The jobs are handed out once the new queue file is renamed in; the lock is held until the
    // folder is synced too (issue 17: that fsync is off the path to the job's start). A crash before
    // it can only bring back the old queue file, whose head is in consumed.yaml already: one entry
    // recorded twice at worst (DESIGN invariant 1), and never more, as the next take waits for the lock.
    let handOut: (taken: Taken) => void = () => undefined;
    const early = new Promise<Taken>((resolve) => (handOut = resolve));
    const whole = this.serialized(signal, (queue) => this.reading(queue, async (read): Promise<Taken> => {
      if (read === undefined) return { jobs: [], missing: true };
      let data = read.data;
      const jobs: Job[] = [];
      let error: ConfigError | undefined;
      while (jobs.length < max) {
        let step: Step | undefined;
        try {
          step = takeHead(data, this.files.queue, max - jobs.length, this.options.check);
        } catch (problem) {
          if (!(problem instanceof ConfigError)) throw problem;
          error = problem;
          break;
        }
        if (!step) break;
        if (step.whole !== undefined) for (const job of step.taken) this.written.set(job, { text: step.whole, jobs: step.taken });
        jobs.push(...step.taken);
        data = step.data;
      }
      let synced: Promise<void> = Promise.resolve();
      if (jobs.length > 0) {
        // consumed.yaml and the journal are made durable while the new queue text is written and
        // synced beside the old one; the rename waits for all of them (DESIGN invariant 1).
        // The journal names the new queue file, once it exists (issue 17: a run killed before the
        // rename must not have its jobs put back, as they are still in the queue).
        const opened = openStage(queue, { mode: read.mode, tag: `${this.tag}.${++this.rewrites}` });
        const [staged, consumed, journal] = await Promise.allSettled([
          opened.then((stage) => stage.fill(data)).catch(asFileError(this.files.queue)),
          this.consumed.append(canonicalText(jobs)).catch(asFileError(this.files.consumed)),
          opened.then(
            (stage) => this.options.onTaken?.(jobs, stage.temp),
            () => undefined, // nothing recorded: the take fails below
          ),
        ]);
        const recorded = consumed.status === 'fulfilled' && journal.status === 'fulfilled';
        try {
          if (consumed.status === 'rejected') throw consumed.reason;
          if (journal.status === 'rejected') throw journal.reason;
          if (staged.status === 'rejected') throw staged.reason;
          synced = (await staged.value.rename().catch(asFileError(this.files.queue))).synced;
        } catch (problem) {
          // Forgotten by the journal before the new file goes: a crash in between leaves a stray file, not a job put back twice.
          if (recorded) await this.options.onKept?.(jobs).catch(() => undefined);
          await opened.then((stage) => stage.discard(), () => undefined);
          throw noteKept(problem, jobs, this.files, consumed.status === 'fulfilled');
        }
        // The jobs are taken now; lines that cannot be carried over stay only in the replaced file.
        await read.keepLate().catch(() => undefined);
      }
      const result = error ? { jobs, error } : { jobs };
      handOut(result);
      // The new queue file is in place; a folder that cannot be synced leaves only the crash case above.
      await synced.catch(() => undefined);
      return result;
    }));
    return Promise.race([early, whole]);
  }

  /** Writes jobs back at the head of the queue in canonical form (a job that could not run). */
  async putBack(jobs: readonly Job[], signal?: AbortSignal): Promise<void> {
    try {
      await this.add(canonicalText(jobs), { front: true, ...(signal ? { signal } : {}), record: this.returnRecordOf(jobs) });
    } catch (error) {
      if (!(error instanceof FileError)) throw error;
      const count = jobs.length === 1 ? '1 job could not go back to the head of' : `${jobs.length} jobs could not go back to the head of`;
      throw error.withNote(
        `${count} ${this.files.queue} and ${jobs.length === 1 ? 'is' : 'are'} only in ${this.files.consumed}:\n${indentLines(canonicalText(jobs), '  ')}` +
          `Once the queue can be written, \`pegasus q --requeue-interrupted\` puts ${jobs.length === 1 ? 'it' : 'them'} back at its head (or copy ${jobs.length === 1 ? 'it' : 'them'} from consumed.yaml).`,
      );
    }
  }

  /**
   * Gives jobs that were taken but never started (read ahead) back to the head of the queue: an entry
   * whose jobs all come back together goes back as it was written (comments, quoting, line endings:
   * DESIGN invariant 2), any other job in canonical form. They also come off the end of
   * consumed.yaml when nothing was appended after them.
   */
  async giveBack(jobs: readonly Job[], signal?: AbortSignal): Promise<void> {
    const pieces: Piece[] = [];
    for (let i = 0; i < jobs.length; ) {
      const job = jobs[i] as Job;
      const entry = this.written.get(job);
      if (entry && entry.jobs.every((j, k) => jobs[i + k] === j)) {
        pieces.push({ raw: entry.text, canonical: canonicalText(entry.jobs) });
        i += entry.jobs.length;
      } else {
        pieces.push({ canonical: canonicalText([job]) });
        i += 1;
      }
    }
    try {
      await this.serialized(signal, (queue) => this.reading(queue, async (read) => {
        const text = (read?.data ?? Buffer.alloc(0)).toString('utf8');
        await this.rewrite(queue, insertPiecesAtHead(text, this.files.queue, pieces), this.returnRecordOf(jobs)).catch(asFileError(this.files.queue));
        await read?.keepLate().catch(asFileError(this.files.queue));
        // Back in the queue, they come off consumed.yaml, which lists what was taken to run: a crash
        // before this leaves them in both files (recorded twice, DESIGN invariant 1).
        await this.consumed.retract(canonicalText(jobs)).catch(() => false);
      }));
    } catch (error) {
      if (!(error instanceof FileError)) throw error;
      throw error.withNote(`${jobs.length === 1 ? '1 job read ahead could not go back to' : `${jobs.length} jobs read ahead could not go back to`} ${this.files.queue}; they stay in this run and run as usual.`);
    }
  }

  /**
   * Adds list items (YAML text of `- ` entries, already validated) at the end of the queue, or before
   * its head with `front`; every other byte of the file stays as it was. Items given as a function
   * are worked out under the queue lock; `record` learns of the rewrite first (see `ReturnRecord`).
   */
  add(items: string | (() => Promise<string>), options: { readonly front: boolean; readonly signal?: AbortSignal; readonly record?: ReturnRecord }): Promise<void> {
    return this.serialized(options.signal, (queue) => this.reading(queue, async (read) => {
      const added = typeof items === 'string' ? items : await items();
      if (added === '') return;
      const text = (read?.data ?? Buffer.alloc(0)).toString('utf8');
      const updated = options.front ? insertAtHead(text, this.files.queue, added) : appendItems(text, added);
      await this.rewrite(queue, updated, options.record).catch(asFileError(this.files.queue));
      await read?.keepLate().catch(asFileError(this.files.queue));
    }));
  }

  /** The journal's record of jobs going back to the queue, if the store has a journal. */
  private returnRecordOf(jobs: readonly Job[]): ReturnRecord | undefined {
    const { onReturning, onNotReturned } = this.options;
    if (!onReturning) return undefined;
    return { pending: (temp) => onReturning(jobs, temp), failed: async () => onNotReturned?.(jobs) };
  }

  /**
   * Replaces the queue file (its real path) atomically. With `record`, the new file gets a name of
   * its own, which `record` is given before the rename; if the rewrite fails, `record` hears so
   * before that file is removed, so a crash at any point leaves a journal that tells the truth
   * (when it could be written).
   */
  private async rewrite(queue: string, updated: string, record: ReturnRecord | undefined): Promise<void> {
    if (!record) return replaceAtomically(queue, updated);
    const opened = await openStage(queue, { tag: `${this.tag}.${++this.rewrites}` });
    // A journal that cannot be written does not keep jobs out of the queue: a crash could then put
    // them back twice, as before the journal named the file.
    const noted = await record.pending(opened.temp).then(
      () => true,
      () => false,
    );
    let synced: Promise<void>;
    try {
      synced = (await (await opened.fill(updated)).rename()).synced;
    } catch (error) {
      if (noted) await record.failed().catch(() => undefined);
      await opened.discard();
      throw error;
    }
    await synced;
  }

  /** Appends a job that failed to failed.yaml, in canonical form under a comment saying where, how and when. */
  async recordFailure(job: Job, note: string): Promise<void> {
    try {
      await appendDurably(this.files.failed, `# ${note.replace(/\n/g, ' ')}\n${canonicalText([job])}`);
    } catch (error) {
      const fault = fileErrorOf(error, this.files.failed);
      if (!fault) throw error;
      throw fault.withNote(`The failed job is in ${this.files.consumed} but not in ${this.files.failed}: ${oneLineOf(job.command)}.`);
    }
  }

  /** Closes the files the store keeps open. */
  async close(): Promise<void> {
    await this.tail;
    await this.consumed.close();
  }

  /** Runs one locked operation after the previous one of this process has finished; `fn` gets the queue file's real path. */
  private serialized<T>(signal: AbortSignal | undefined, fn: (queue: string) => Promise<T>): Promise<T> {
    const run = this.tail.then(() =>
      withQueueLock(this.files.queue, fn, {
        ...(signal ? { signal } : {}),
        ...(this.options.onLockNotice ? { onNotice: this.options.onLockNotice } : {}),
      }),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Reads the queue file (its bytes and permission bits; undefined when it does not exist) and runs
   * `fn`, which may replace it; the old file stays open until then, for `keepLate`.
   */
  private async reading<T>(queue: string, fn: (read: QueueRead | undefined) => Promise<T>): Promise<T> {
    let handle: FileHandle;
    try {
      handle = await open(queue, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fn(undefined);
      throw error;
    }
    try {
      const { mode } = await handle.stat();
      const data = await handle.readFile();
      return await fn({ data, mode: mode & 0o777, keepLate: () => keepLate(handle, queue, data.length) });
    } finally {
      await handle.close();
    }
  }
}

/** The queue file as a locked operation read it. */
interface QueueRead {
  readonly data: Buffer;
  readonly mode: number;
  /** Once the file is replaced: carries over what was appended to the old one since it was read. */
  keepLate(): Promise<void>;
}

/**
 * Lines appended without the lock (`echo '- job' >> queue.yaml` while a daemon takes jobs) after the
 * queue file was read went to the old file, which the rename has just replaced: they are appended
 * to the new one, so the entry is not lost. (A writer that keeps the old file open and writes later
 * still loses; `pegasus push` takes the lock.)
 */
async function keepLate(old: FileHandle, queue: string, readBytes: number): Promise<void> {
  const { size } = await old.stat();
  if (size <= readBytes) return;
  const extra = Buffer.alloc(size - readBytes);
  const { bytesRead } = await old.read(extra, 0, extra.length, readBytes);
  if (bytesRead > 0) await appendDurably(queue, extra.subarray(0, bytesRead).toString('utf8'));
}

interface Step {
  readonly taken: readonly Job[];
  /** The queue file's bytes after taking them (the rest of the burst written back at the head). */
  readonly data: Buffer;
  /** The head entry's own text, when this step took all of its jobs (it can go back as it was written). */
  readonly whole?: string;
}

/** Takes up to `max` jobs of the head entry; undefined when the queue is empty. */
function takeHead(data: Buffer, file: string, max: number, check: (entry: Entry) => void): Step | undefined {
  const { scan, headEndByte } = scanHeadBytes(data);
  if (scan.kind === 'empty') return undefined;
  if (scan.kind === 'head') {
    const { before, head, headLine } = scan.split;
    const source = parseYaml(head, file, headLine);
    const root = source.doc.contents;
    if (isSeq(root) && root.items.length === 1) {
      const { taken, rest } = burst(readEntry(root.items[0], source), max, check);
      const indent = /^[ \t]*/.exec(head)?.[0] ?? '';
      const front = Buffer.from(before + lineEndingsOf(head, indentLines(canonicalText(rest), indent)));
      return { taken, data: Buffer.concat([front, data.subarray(headEndByte)]), ...(rest.length === 0 ? { whole: head } : {}) };
    }
  }
  // Not a plain block list (a flow list, a stray document marker...): parse it all, report or handle.
  const { bom } = splitBom(data.toString('utf8', 0, 3));
  const source = parseYaml(data.toString('utf8'), file);
  const root = source.doc.contents;
  if (root === null || (isScalar(root) && scalarText(root) === '')) return undefined;
  if (!isSeq(root)) {
    throw new ConfigError(`The queue file ${file} must be a list, but its top level is ${kindOf(root)}.`, {
      place: { file, line: 1 },
      fix: 'Write one entry per item, each starting with `- `. Nothing was taken from the queue.',
    });
  }
  if (root.items.length === 0) return undefined;
  const { taken, rest } = burst(readEntry(root.items[0], source), max, check);
  root.items.splice(0, 1, ...rest.map((job) => source.doc.createNode(canonicalValue(job)) as unknown as ParsedNode));
  return { taken, data: Buffer.from(bom + source.doc.toString({ lineWidth: 0 })) };
}

function burst(entry: Entry, max: number, check: (entry: Entry) => void): { taken: Job[]; rest: Job[] } {
  check(entry);
  const jobs = expandEntry(entry);
  return { taken: jobs.slice(0, max), rest: jobs.slice(max) };
}

/** Inserts list items (canonical text) before the head entry, keeping everything else byte for byte. */
export function insertAtHead(text: string, file: string, items: string): string {
  const scan = scanHead(text);
  if (scan.kind === 'head') {
    const indent = /^[ \t]*/.exec(scan.split.head)?.[0] ?? '';
    return scan.split.before + lineEndingsOf(scan.split.head, indentLines(items, indent)) + scan.split.head + scan.split.after;
  }
  if (scan.kind === 'empty') return appendItems(text, items);
  const source = parseYaml(text, file);
  const root = source.doc.contents;
  if (!isSeq(root)) {
    throw new ConfigError(`The queue file ${file} must be a list, but its top level is ${kindOf(root)}.`, {
      place: { file, line: 1 },
      fix: 'Write one entry per item, each starting with `- `.',
    });
  }
  const added = parseYaml(items, file).doc.contents;
  root.items.unshift(...(isSeq(added) ? (added.items as ParsedNode[]) : []));
  return splitBom(text).bom + source.doc.toString({ lineWidth: 0 });
}

/** Entries going back to the queue: as they were written in it when known, else in canonical form. */
interface Piece {
  readonly raw?: string;
  readonly canonical: string;
}

/**
 * Inserts entries before the head entry: canonical ones indented and with line endings as the file's,
 * raw ones (an entry's text as it was in this file) byte for byte. A queue that is not a plain block
 * list gets them all in canonical form through the full parse.
 */
function insertPiecesAtHead(text: string, file: string, pieces: readonly Piece[]): string {
  const scan = scanHead(text);
  if (scan.kind === 'other') return insertAtHead(text, file, pieces.map((p) => p.canonical).join(''));
  const sample = scan.kind === 'head' ? scan.split.head : splitBom(text).body;
  const newline = sample.includes('\r\n') ? '\r\n' : '\n';
  const indent = scan.kind === 'head' ? (/^[ \t]*/.exec(scan.split.head)?.[0] ?? '') : '';
  const items = pieces.map((p) => (p.raw !== undefined ? (p.raw.endsWith('\n') ? p.raw : p.raw + newline) : lineEndingsOf(sample, indentLines(p.canonical, indent)))).join('');
  if (scan.kind === 'head') return scan.split.before + items + scan.split.head + scan.split.after;
  return appendRaw(text, items);
}

/** Appends text after the last line of a queue text (which may be empty, only comments, or only a byte order mark). */
function appendRaw(text: string, items: string): string {
  const body = splitBom(text).body;
  return body === '' || body.endsWith('\n') ? text + items : `${text}${body.includes('\r\n') ? '\r\n' : '\n'}${items}`;
}

/** Appends list items after the last line of a queue text (which may be empty, only comments, or only a byte order mark). */
function appendItems(text: string, items: string): string {
  return appendRaw(text, lineEndingsOf(splitBom(text).body, items));
}

/** The take's fault, with where its jobs are: still in the queue, and also in consumed.yaml when that append went through. */
function noteKept(problem: unknown, jobs: readonly Job[], files: QueueFiles, inConsumed: boolean): unknown {
  if (!(problem instanceof FileError)) return problem;
  const what = jobs.length === 1 ? `The job being taken, ${oneLineOf(jobs[0]?.command ?? '')}, stays` : `The ${jobs.length} jobs being taken stay`;
  return problem.withNote(`${what} in ${files.queue}${inConsumed ? ` and ${jobs.length === 1 ? 'is' : 'are'} also in ${files.consumed}` : ''}; nothing was lost.`);
}

/** A command on one line, for notes. */
function oneLineOf(command: string): string {
  const flat = command.trim().replace(/\s*\n\s*/g, ' ');
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}

/** `text` with CRLF line endings when `sample` (the file's text next to it) has them, so a Windows-saved queue keeps one kind of line ending (issue 13). */
function lineEndingsOf(sample: string, text: string): string {
  return sample.includes('\r\n') ? text.replace(/\r?\n/g, '\r\n') : text;
}

function indentLines(text: string, indent: string): string {
  if (indent === '' || text === '') return text;
  return text.replace(/^(?=.)/gm, indent);
}
