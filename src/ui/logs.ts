// Per-job log files: every line a job printed, in its own file under the log folder, whatever is shown on screen.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { type RunEvent } from '../run/events.js';
import { describeEnd } from './plain.js';

/** Writes each job's output to `<dir>/<run>/<id>-<sub-node>.log`; memory stays bounded (streams, no history). */
export class JobLogs {
  private readonly runDir: string;
  private readonly open = new Map<number, WriteStream>();
  private readonly paths = new Map<number, string>();
  private readonly closing = new Map<number, Promise<void>>();

  /** `dir` is the log folder (default `.pegasus/logs` beside the queue); each run gets a folder named by its start time and pid. */
  constructor(dir: string) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z');
    this.runDir = path.join(dir, `${stamp}-${process.pid}`);
  }

  /** The log file of a job (by the id of its attempt), if it had one. */
  pathOf(id: number): string | undefined {
    return this.paths.get(id);
  }

  /** Consumes run events. */
  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case 'job-started': {
        mkdirSync(this.runDir, { recursive: true });
        const name = `${String(event.id).padStart(4, '0')}-${event.subnode.label.replace(/[^A-Za-z0-9._=-]+/g, '_').replace(/_+$/, '')}.log`;
        const file = path.join(this.runDir, name);
        const stream = createWriteStream(file);
        this.open.set(event.id, stream);
        this.paths.set(event.id, file);
        stream.write(`=== run on ${event.subnode.label}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}: ${event.command}\n`);
        return;
      }
      case 'job-output':
        this.open.get(event.id)?.write(`${event.stream === 'stderr' ? '[stderr] ' : ''}${event.line}\n`);
        return;
      case 'job-finished': {
        const stream = this.open.get(event.id);
        this.open.delete(event.id);
        if (stream) this.closing.set(event.id, new Promise((resolve) => stream.end(`=== ${describeEnd(event.result)} ===\n`, () => resolve())));
        return;
      }
      default:
        return;
    }
  };

  /** Resolves when a finished job's log file is complete on disk. */
  async written(id: number): Promise<void> {
    await this.closing.get(id);
    this.closing.delete(id);
  }

  /** A log file whose writes are more than `limit` bytes behind (the disk is slower than the jobs), if any. */
  behind(limit: number): WriteStream | undefined {
    for (const stream of this.open.values()) if (stream.writableLength > limit) return stream;
    return undefined;
  }

  /** Waits until every log file is flushed and closed. */
  async close(): Promise<void> {
    await Promise.all([...this.open.values()].map((s) => new Promise((resolve) => s.end(resolve))));
    this.open.clear();
  }
}
