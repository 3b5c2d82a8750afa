// Files a run cannot write (issue 13): each fault is reported as an event, the first stops the run taking jobs, none is thrown out of the run.
import { FileError } from '../errors.js';
import type { RunEvent } from './events.js';

/**
 * The write faults of one run. A queue file, consumed.yaml, failed.yaml or the journal that cannot
 * be written stops the run from taking more jobs (nothing more can be recorded safely); running
 * jobs finish or go back to the queue, and the run ends with exit 1 and the faults in its summary.
 */
export class WriteFaults {
  private readonly emit: (event: RunEvent) => void;
  private readonly seen: FileError[] = [];
  private readonly stop = new AbortController();

  constructor(emit: (event: RunEvent) => void) {
    this.emit = emit;
  }

  /** Aborted at the first fault: the run takes no more jobs. */
  get signal(): AbortSignal {
    return this.stop.signal;
  }

  /** Every fault so far, in order. */
  get list(): readonly FileError[] {
    return this.seen;
  }

  /** Reports a fault (once: the same error, or the same file and reason with nothing more to say, is not repeated) and stops taking jobs. */
  record(error: FileError): void {
    const repeat = this.seen.some((e) => e === error || (e.file === error.file && e.code === error.code && error.note === undefined));
    if (!repeat) {
      this.seen.push(error);
      this.emit({ type: 'file-fault', error, stopping: true });
    }
    this.stop.abort();
  }

  /** Runs a write of the run's files; a FileError is recorded instead of thrown. Resolves whether the write succeeded. */
  async attempt(write: () => Promise<unknown> | undefined): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (error) {
      if (!(error instanceof FileError)) throw error;
      this.record(error);
      return false;
    }
  }
}
