// A run's hooks and tally (issue 16): what the CLI wires between the run's events, `pegasus wait` and the hook runner.
import path from 'node:path';
import { loadHooks, type Hook } from '../hooks/config.js';
import { HookRunner } from '../hooks/runner.js';
import { hookTriggers } from '../hooks/triggers.js';
import type { RunEvent } from '../run/events.js';
import { RunTally } from '../run/tally.js';
import { eventJson } from '../ui/json.js';
import type { RunFlags } from './run-command.js';

/** The hooks of a run from `.pegasus/hooks.yaml` and the --on-* flags; read before anything connects, so a bad file stops the run at once. */
export function hooksOf(flags: RunFlags): Promise<Hook[]> {
  return loadHooks(flags.queueFile, {
    commands: {
      ...(flags.onFailure === undefined ? {} : { on_failure: flags.onFailure }),
      ...(flags.onSuccess === undefined ? {} : { on_success: flags.onSuccess }),
      ...(flags.onFinish === undefined ? {} : { on_finish: flags.onFinish }),
      ...(flags.onIdle === undefined ? {} : { on_idle: flags.onIdle }),
      ...(flags.onHostLost === undefined ? {} : { on_host_lost: flags.onHostLost }),
    },
    ...(flags.hookTimeout === undefined ? {} : { timeout: flags.hookTimeout }),
  });
}

export interface RunHooks {
  readonly tally: RunTally;
  /** Consumes run events: hooks first (their counts include the event), then the tally (which may say the run is idle). */
  readonly onEvent: (event: RunEvent) => void;
  /** The run ended by itself with its queue done: idle for good (on_idle, `pegasus wait`). */
  readonly queueDone: () => void;
  /** The screen is closed: hook failures from now on are written with `say`. */
  readonly screenClosed: (say: (text: string) => void) => void;
  /** The run is over: waits are answered; hooks get their timeout to finish, then are stopped. */
  readonly close: (say: (text: string) => void) => Promise<void>;
}

export function startRunHooks(options: {
  readonly hooks: readonly Hook[];
  readonly queueFile: string;
  readonly logDir: string;
  readonly logOf: (id: number) => string | undefined;
  readonly emit: (event: RunEvent) => void;
  readonly json: boolean;
}): RunHooks {
  const tally = new RunTally();
  // Hook failures after the screen is closed are written directly.
  let late: ((text: string) => void) | undefined;
  const emit = (event: RunEvent): void => {
    if (!late) return options.emit(event);
    if (options.json) process.stdout.write(`${JSON.stringify(eventJson(event))}\n`);
    else if (event.type === 'hook-failed') late(`pegasus: hook ${event.kind}${event.job === undefined ? '' : ` (job ${event.job})`} failed: ${event.message}${event.log ? `; its output is in ${event.log}` : ''}.\n`);
  };
  const runner = new HookRunner({ hooks: options.hooks, logDir: path.join(options.logDir, 'hooks'), emit });
  const triggers = options.hooks.length > 0 ? hookTriggers({ runner, tally, queueFile: options.queueFile, logOf: options.logOf }) : undefined;
  return {
    tally,
    onEvent: (event) => {
      triggers?.(event);
      tally.onEvent(event);
    },
    queueDone: () => tally.finishedQueue(),
    screenClosed: (say) => {
      late = say;
    },
    close: async (say) => {
      tally.end();
      late = say;
      // Said only when hooks hold up the exit for a noticeable moment.
      const notice = setTimeout(() => {
        if (runner.busy) say(`pegasus: waiting for hooks to finish (at most ${Math.max(...options.hooks.map((h) => h.timeoutMs)) / 1000}s).\n`);
      }, 1000);
      await runner.close();
      clearTimeout(notice);
    },
  };
}
