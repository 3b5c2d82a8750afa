// Per-job log files: every line a job printed, in its own file under the log folder, whatever is shown on screen.
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { FileError, fileErrorOf } from '../errors.js';
import type { ExecResult } from '../exec/types.js';
import { makeDirsSync } from '../make-dirs.js';
import type { RunEvent } from '../run/events.js';
import { describeEnd } from './plain.js';

/** One line of a run folder's `index.jsonl`. */
export interface LogIndexEntry {
  readonly id: number;
  readonly subnode: string;
  readonly command: string;
  readonly outcome: 'ok' | 'failed' | 'timed-out' | 'cancelled' | 'lost' | 'requeued';
  readonly exit: number | null;
  readonly signal: string | null;
  readonly durationMs: number;
  readonly at: number;
  readonly log: string;
}

function outcomeOf(result: ExecResult, requeued: boolean): LogIndexEntry['outcome'] {
  if (requeued) return 'requeued';
  if (result.transportError) return 'lost';
  if (result.timedOut) return 'timed-out';
  if (result.cancelled) return 'cancelled';
  return result.exitCode === 0 ? 'ok' : 'failed';
}

/** A job's log is held in memory until it is this big or this old, then streamed to its file. */
const HOLD_BYTES = 64 * 1024;
const HOLD_MS = 1000;

/**
 * A log not yet on disk: short jobs (most of a sweep of quick commands) get their file in one
 * write when they end instead of an open stream each (issue 7: per-job I/O).
 */
interface Held {
  readonly file: string;
  readonly chunks: string[];
  bytes: number;
  readonly timer: NodeJS.Timeout;
}

export interface JobLogsOptions {
  /**
   * Called once, at the first log file that cannot be written (full disk, read-only, forbidden):
   * the run goes on without the logs it cannot write (issue 13), so the user is told only once.
   */
  readonly onFault?: (error: FileError) => void;
}

/**
 * Writes each job's output to `<dir>/<run>/<id>-<sub-node>.log`; memory stays bounded (at most
 * HOLD_BYTES per young job, then streams). A log that cannot be written is dropped, never an error
 * of the run: `pathOf` then names no file for that job. A job that succeeds without printing
 * anything gets no file either; its line in `index.jsonl` is its record.
 */
export class JobLogs {
  private readonly runDir: string;
  private readonly options: JobLogsOptions;
  private faulted = false;
  private readonly held = new Map<number, Held>();
  private readonly open = new Map<number, WriteStream>();
  private readonly paths = new Map<number, string>();
  private readonly closing = new Map<number, Promise<void>>();
  private made = false;
  /** `index.jsonl` of the run folder: one line per finished attempt, for `pegasus status`. */
  private index: WriteStream | undefined;

  /** `dir` is the log folder (default `.pegasus/logs` beside the queue); each run gets a folder named by its start time and pid. */
  constructor(dir: string, options: JobLogsOptions = {}) {
    this.options = options;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z');
    this.runDir = path.join(dir, `${stamp}-${process.pid}`);
  }

  /** This run's log folder. */
  get dir(): string {
    return this.runDir;
  }

  /** The log file of a job (by the id of its attempt), if it had one. */
  pathOf(id: number): string | undefined {
    return this.paths.get(id);
  }

  /** Consumes run events. */
  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'job-started': {
        // Once per run: no synchronous file I/O per job on the event loop (issue 7); tried again
        // at each job only while it fails.
        if (!this.made) {
          try {
            makeDirsSync(this.runDir);
            this.made = true;
          } catch (error) {
            this.fault(error, this.runDir);
            return; // this job has no log
          }
        }
        const name = `${String(event.id).padStart(4, '0')}-${event.subnode.label.replace(/[^A-Za-z0-9._=-]+/g, '_').replace(/_+$/, '')}.log`;
        const file = path.join(this.runDir, name);
        this.paths.set(event.id, file);
        const id = event.id;
        const timer = setTimeout(() => this.stream(id), HOLD_MS);
        timer.unref();
        const header = `=== run on ${event.subnode.label}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}: ${event.command}\n`;
        this.held.set(id, { file, chunks: [header], bytes: header.length, timer });
        return;
      }
      case 'job-output': {
        const text = `${event.stream === 'stderr' ? '[stderr] ' : ''}${event.line}\n`;
        const held = this.held.get(event.id);
        if (!held) {
          this.open.get(event.id)?.write(text);
          return;
        }
        held.chunks.push(text);
        held.bytes += text.length;
        if (held.bytes > HOLD_BYTES) this.stream(event.id);
        return;
      }
      case 'job-finished': {
        const id = event.id;
        const end = `=== ${describeEnd(event.result)} ===\n`;
        const held = this.held.get(id);
        const stream = this.open.get(id);
        this.held.delete(id);
        this.open.delete(id);
        // Kept only until the file is on disk: one entry per job would grow without end in a long daemon run.
        const done = (): void => void this.closing.delete(id);
        const lost = (error: unknown): void => {
          this.fault(error, this.paths.get(id) ?? this.runDir);
          this.paths.delete(id);
          done();
        };
        if (held && held.chunks.length === 1 && outcomeOf(event.result, event.requeued) === 'ok') {
          // It succeeded and printed nothing: its line in index.jsonl says all the file would, and
          // creating a file costs more than such a job on many disks (issue 17: 0.13-0.3 ms of
          // kernel time here, a quarter of a run of 400 quick jobs). Failures always get their file.
          clearTimeout(held.timer);
          this.paths.delete(id);
        } else if (held) {
          clearTimeout(held.timer);
          held.chunks.push(end);
          this.closing.set(id, writeFile(held.file, held.chunks.join('')).then(done, lost));
        } else if (stream) {
          stream.end(end);
          this.closing.set(id, finished(stream).then(done, lost));
        }
        if (!this.made) return;
        this.index ??= this.createStream(path.join(this.runDir, 'index.jsonl'), 'a', () => (this.index = undefined));
        const entry: LogIndexEntry = {
          id: event.id,
          subnode: event.subnode.label,
          command: event.command,
          outcome: outcomeOf(event.result, event.requeued),
          exit: event.result.exitCode,
          signal: event.result.signal,
          durationMs: Math.round(event.result.durationMs),
          at: Date.now(),
          log: this.paths.get(event.id) ?? '',
        };
        this.index.write(`${JSON.stringify(entry)}\n`);
        return;
      }
      default:
        return;
    }
  };

  /** Moves a held log to a file stream: its job runs long or prints much. */
  private stream(id: number): void {
    const held = this.held.get(id);
    if (!held) return;
    clearTimeout(held.timer);
    this.held.delete(id);
    const stream = this.createStream(held.file, 'w', () => {
      this.open.delete(id);
      this.paths.delete(id);
    });
    stream.write(held.chunks.join(''));
    this.open.set(id, stream);
  }

  /** A file stream whose failure is reported (once per run) and then forgotten by `onError`, never thrown. */
  private createStream(file: string, flags: string, onError: () => void): WriteStream {
    const stream = createWriteStream(file, { flags });
    stream.on('error', (error) => {
      this.fault(error, file);
      onError();
    });
    return stream;
  }

  /** Tells the user about the first log file that could not be written; the run goes on without it. */
  private fault(error: unknown, file: string): void {
    if (this.faulted) return;
    this.faulted = true;
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    this.options.onFault?.(fileErrorOf(error, file, 'log') ?? new FileError(file, code, { role: 'log', cause: error }));
  }

  /** Resolves when a finished job's log file is complete on disk (at once if it already is). */
  async written(id: number): Promise<void> {
    await this.closing.get(id);
  }

  /** A log file whose writes are more than `limit` bytes behind (the disk is slower than the jobs), if any. */
  behind(limit: number): WriteStream | undefined {
    for (const stream of this.open.values()) if (stream.writableLength > limit) return stream;
    return undefined;
  }

  /** Waits until every log file is flushed and closed. */
  async close(): Promise<void> {
    for (const id of [...this.held.keys()]) this.stream(id);
    const streams = [...this.open.values(), ...(this.index ? [this.index] : [])];
    await Promise.all(
      streams.map((s) => {
        s.end();
        return finished(s).catch(() => undefined); // a failed stream was reported when it failed
      }),
    );
    await Promise.all(this.closing.values());
    this.open.clear();
    this.index = undefined;
  }
}
