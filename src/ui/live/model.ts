// The live view's model: folds events into the panel state and batches the output text written above the panel.
import type { RunEvent, SubNodeRef } from '../../run/events.js';
import type { Painter } from '../colour.js';
import { plainPrinter } from '../plain.js';
import { applyEvent, initialState, type ViewState } from '../state.js';
import { widthOf, wrapPrefixed } from '../wrap.js';

/** How often batched output is written above the panel (one redraw per batch, not per line). */
const FLUSH_MS = 50;
/** Write at once past this much pending text, so memory stays bounded however fast jobs print. */
const FLUSH_BYTES = 256 * 1024;

export interface LiveModelOptions {
  readonly subnodes: readonly SubNodeRef[];
  readonly printPeriod: number;
  readonly painter: Painter;
  /** The terminal width now (it follows resizes). */
  readonly columns: () => number;
  readonly title: string;
  /** Broadcast mode: paused sub-nodes hold the barrier. */
  readonly barrier?: boolean;
}

export class LiveModel {
  readonly state: ViewState;
  readonly title: string;
  /** Set when the run is over: the panel renders nothing, so it is gone from the screen. */
  closed = false;
  private pending = '';
  private flushTimer: NodeJS.Timeout | undefined;
  private write: ((text: string) => void) | undefined;
  private rerender: (() => void) | undefined;
  /** Writes an event's text above the panel (separate from onState so that --group can hold text back). */
  readonly print: (event: RunEvent) => void;
  private readonly prefixes = new Map<number, { readonly text: string; readonly width: number }>();

  constructor(private readonly options: LiveModelOptions) {
    this.state = initialState(options.subnodes);
    if (options.barrier) this.state.barrier = true;
    this.title = options.title;
    const { painter } = options;
    this.print = plainPrinter(
      {
        out: (text) => this.append(text),
        err: (text) => this.append(painter.chalk.yellow(text.replace(/\n$/, '')) + '\n'),
        line: (subnode, text) => {
          const prefix = this.prefixOf(subnode);
          this.append(wrapPrefixed(prefix.text, prefix.width, text, this.options.columns()));
        },
      },
      { printPeriod: options.printPeriod, prefix: (s) => this.prefixOf(s).text },
    );
  }

  /** Consumes one run event. */
  readonly onEvent = (event: RunEvent): void => {
    this.onState(event);
    this.print(event);
  };

  /** Folds an event into the panel. */
  readonly onState = (event: RunEvent): void => {
    if (applyEvent(this.state, event)) this.rerender?.();
  };

  /** A pegasus message (not tied to an event), shown above the panel. */
  say(text: string): void {
    this.append(text);
  }

  /** Called by the mounted view: how to write above the panel, and how to redraw it. */
  attach(write: (text: string) => void, rerender: () => void): void {
    this.write = write;
    this.rerender = rerender;
    this.flush();
  }

  detach(): void {
    this.write = undefined;
    this.rerender = undefined;
  }

  /** Writes what is pending now. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.write || this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.write(text);
  }

  /** Pending text not yet written (for the end of the run, when the view is gone). */
  takePending(): string {
    const text = this.pending;
    this.pending = '';
    return text;
  }

  private append(text: string): void {
    this.pending += text;
    if (this.pending.length >= FLUSH_BYTES) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private prefixOf(subnode: SubNodeRef): { readonly text: string; readonly width: number } {
    let prefix = this.prefixes.get(subnode.index);
    if (!prefix) {
      const text = this.options.painter.prefix(subnode.label, subnode.index);
      prefix = { text, width: widthOf(text) };
      this.prefixes.set(subnode.index, prefix);
    }
    return prefix;
  }
}
