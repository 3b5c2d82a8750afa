// Choosing what the run shows: the ink live view on a terminal, plain prefixed lines otherwise, or JSON lines.
import type { RunEvent, SubNodeRef } from '../run/events.js';
import { colourLevel, painter } from '../ui/colour.js';
import { grouped } from '../ui/group.js';
import { jsonPrinter } from '../ui/json.js';
import { plainPrinter } from '../ui/plain.js';
import { progressReporter } from '../ui/progress.js';

export interface Screen {
  readonly kind: 'live' | 'plain' | 'json';
  readonly onEvent: (event: RunEvent) => void;
  /** A pegasus message that is not an event (e.g. jobs an earlier run left unfinished). */
  readonly say: (text: string) => void;
  /** Ends the view (the live panel disappears); the summary is written after this. */
  readonly close: () => Promise<void>;
}

export interface ScreenOptions {
  readonly json: boolean;
  readonly plain: boolean;
  readonly printPeriod: number;
  readonly subnodes: readonly SubNodeRef[];
  readonly title: string;
  /** Broadcast mode: a paused sub-node holds the barrier, and the panel says so. */
  readonly barrier?: boolean;
  /** --group / --keep-order: each job's output as one block when it ends (plain and live; not --json). */
  readonly group?: { readonly keepOrder: boolean; readonly logOf: (id: number) => Promise<string | undefined> };
  readonly env?: NodeJS.ProcessEnv;
  readonly stdout?: NodeJS.WriteStream;
  readonly stderr?: NodeJS.WriteStream;
}

/** The live view needs a terminal that is not dumb, outside CI, and not --plain. */
export function wantsLiveView(options: { readonly json: boolean; readonly plain: boolean }, env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  return !options.json && !options.plain && isTTY && !env.CI && env.TERM !== 'dumb';
}

/** Opens the screen; its close() may be called more than once. */
export async function openScreen(options: ScreenOptions): Promise<Screen> {
  const screen = await chooseScreen(options);
  let closing: Promise<void> | undefined;
  return { ...screen, close: () => (closing ??= screen.close()) };
}

async function chooseScreen(options: ScreenOptions): Promise<Screen> {
  const env = options.env ?? process.env;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const err = (text: string): void => void stderr.write(text);
  if (options.json) {
    const out = turnBatched((text) => void stdout.write(text));
    // A run that exits without closing the screen (an uncaught error) still writes what it held.
    process.once('exit', out.flush);
    return {
      kind: 'json',
      onEvent: jsonPrinter(out.write),
      say: err,
      close: async () => {
        out.flush();
        process.off('exit', out.flush);
      },
    };
  }
  if (wantsLiveView(options, env, stdout.isTTY === true)) {
    // ink and React load only here, so plain and JSON runs start without them.
    const { startLiveView } = await import('../ui/live/start.js');
    const view = startLiveView({
      subnodes: options.subnodes,
      printPeriod: options.printPeriod,
      painter: painter(colourLevel(env, true)),
      title: options.title,
      barrier: options.barrier ?? false,
      stdout,
    });
    const text = options.group ? grouped(view.print, options.group) : undefined;
    return {
      kind: 'live',
      onEvent: text
        ? (event) => {
            view.onState(event);
            text.onEvent(event);
          }
        : view.onEvent,
      say: view.say,
      close: async () => {
        await text?.flush();
        await view.close();
      },
    };
  }
  const paint = painter(colourLevel(env, stdout.isTTY === true));
  // Lines of one turn go out in one write, as --json's do; whatever goes to stderr first sends
  // what stdout holds, so a terminal showing both sees them in the order they were printed.
  const out = turnBatched((text) => void stdout.write(text));
  process.once('exit', out.flush);
  const errInOrder = (text: string): void => {
    out.flush();
    err(text);
  };
  const print = plainPrinter({ out: out.write, err: errInOrder }, { printPeriod: options.printPeriod, prefix: (s) => paint.prefix(s.label, s.index) });
  // PEGASUS_PROGRESS_MS changes how often the progress line may appear (default 5 s).
  const period = Number(env.PEGASUS_PROGRESS_MS);
  const progress = progressReporter(options.subnodes, errInOrder, period > 0 ? period : undefined);
  const text = options.group ? grouped(print, options.group) : { onEvent: print, flush: async () => {} };
  return {
    kind: 'plain',
    onEvent: (event) => {
      progress.onEvent(event);
      text.onEvent(event);
    },
    say: errInOrder,
    close: async () => {
      progress.stop();
      await text.flush();
      out.flush();
      process.off('exit', out.flush);
    },
  };
}

/**
 * Joins what is written in one turn of the event loop into one write (issue 17): a broadcast round
 * ends with an event per sub-node, and each was a system call of its own on a pipe. What a turn
 * holds goes out when the turn's callbacks have run, or at once on flush().
 */
export function turnBatched(write: (text: string) => void): { readonly write: (text: string) => void; readonly flush: () => void } {
  let held: string[] = [];
  let timer: NodeJS.Immediate | undefined;
  const flush = (): void => {
    if (timer) clearImmediate(timer);
    timer = undefined;
    if (held.length === 0) return;
    const text = held.join('');
    held = [];
    write(text);
  };
  return {
    write: (text) => {
      held.push(text);
      timer ??= setImmediate(flush);
    },
    flush,
  };
}
