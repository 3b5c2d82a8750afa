// Splitting a byte stream into whole lines: \n, \r\n and a lone \r (progress bars) each end a line.
import { StringDecoder } from 'node:string_decoder';

/** Lines longer than this are emitted in pieces, so one endless line cannot grow memory without bound. */
export const MAX_LINE = 64 * 1024;

/** Feeds chunks in, calls `emit` once per whole line; `end()` flushes a last unterminated line. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private afterCR = false;
  private readonly emit: (line: string) => void;

  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }

  /** Adds a chunk of output. */
  push(chunk: Buffer | string): void {
    this.take(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  }

  /** Ends the stream: the last line is emitted even without a line break. */
  end(): void {
    this.take(this.decoder.end());
    if (this.pending !== '') this.emit(this.pending);
    this.pending = '';
  }

  private take(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 10 && this.afterCR && i === start) {
        // the \n of a \r\n whose \r ended the previous line
        start = i + 1;
        this.afterCR = false;
        continue;
      }
      this.afterCR = false;
      if (ch === 10 || ch === 13) {
        this.emit(this.pending + text.slice(start, i));
        this.pending = '';
        start = i + 1;
        this.afterCR = ch === 13;
      }
    }
    this.pending += text.slice(start);
    while (this.pending.length > MAX_LINE) {
      this.emit(this.pending.slice(0, MAX_LINE));
      this.pending = this.pending.slice(MAX_LINE);
    }
  }
}
