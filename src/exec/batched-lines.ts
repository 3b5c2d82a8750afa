// Lines to a helper process's stdin that may wait (a finished job's group being forgotten): they go out with the next urgent line, or after a short delay.

/** Collects lines that can wait and writes them with the next line that cannot (one pipe write per job, issue 17). */
export class BatchedLines {
  private pending = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly write: (text: string) => void;
  private readonly delayMs: number;

  /** `write` gets the text (never empty); `delayMs` is the longest a line waits. */
  constructor(write: (text: string) => void, delayMs: number) {
    this.write = write;
    this.delayMs = delayMs;
  }

  /** Queues a line (with its \n) to go out with the next `now`, or within the delay. */
  later(line: string): void {
    this.pending += line;
    if (this.timer) return;
    this.timer = setTimeout(() => this.now(''), this.delayMs);
    this.timer.unref();
  }

  /** Writes what waits, then `text`, in one write. */
  now(text: string): void {
    this.cancel();
    const all = this.pending + text;
    this.pending = '';
    if (all !== '') this.write(all);
  }

  /** Drops what waits (the process is gone). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
