// Starting and stopping the live view (ink): the only module that renders to the terminal.
import { render } from 'ink';
import type { RunEvent, SubNodeRef } from '../../run/events.js';
import type { Painter } from '../colour.js';
import { App } from './App.js';
import { LiveModel } from './model.js';

export interface LiveView {
  readonly onEvent: (event: RunEvent) => void;
  /** The panel only, and the text only (for --group, which holds text back). */
  readonly onState: (event: RunEvent) => void;
  readonly print: (event: RunEvent) => void;
  /** A pegasus message shown above the panel. */
  readonly say: (text: string) => void;
  /** Writes what is pending and removes the panel from the screen. */
  readonly close: () => Promise<void>;
}

export function startLiveView(options: {
  readonly subnodes: readonly SubNodeRef[];
  readonly printPeriod: number;
  readonly painter: Painter;
  readonly title: string;
  readonly barrier: boolean;
  readonly stdout: NodeJS.WriteStream;
}): LiveView {
  const { stdout } = options;
  const model = new LiveModel({ ...options, columns: () => stdout.columns || 80 });
  // exitOnCtrlC off: Ctrl-C is pegasus's two-stage stop (SIGINT), not ink's.
  const instance = render(<App model={model} />, { stdout, exitOnCtrlC: false, patchConsole: false });
  return {
    onEvent: model.onEvent,
    onState: model.onState,
    print: model.print,
    say: (text) => model.say(text),
    close: async () => {
      model.flush();
      model.closed = true;
      instance.rerender(<App model={model} />);
      instance.unmount();
      await instance.waitUntilExit();
      const rest = model.takePending();
      if (rest) stdout.write(rest);
    },
  };
}
