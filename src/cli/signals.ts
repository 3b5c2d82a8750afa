// Ctrl-C and SIGTERM during a run: the first Ctrl-C stops taking jobs, a second one or SIGTERM cancels running ones (issue 5).
import { setMaxListeners } from 'node:events';
import type { RunEvent } from '../run/events.js';
import { EXIT } from './exit.js';

/**
 * Ctrl-C and SIGTERM (issue 5). The first Ctrl-C stops taking jobs and lets running ones finish;
 * a second Ctrl-C, or SIGTERM at any time, cancels running jobs (they go back to the queue).
 */
export function stopOnSignals(say: (event: RunEvent) => void): {
  drain: AbortSignal;
  cancel: AbortSignal;
  code: () => number | undefined;
  dispose: () => void;
} {
  const drain = new AbortController();
  const cancel = new AbortController();
  // Every running job and every idle sub-node loop listens to these: hundreds of listeners are the design, not a leak.
  setMaxListeners(0, drain.signal, cancel.signal);
  let code: number | undefined;
  const onSigint = (): void => {
    code ??= EXIT.interrupted;
    if (!drain.signal.aborted) {
      drain.abort();
      say({ type: 'stop-requested', stage: 'drain' });
    } else if (!cancel.signal.aborted) {
      cancel.abort();
      say({ type: 'stop-requested', stage: 'cancel' });
    }
  };
  const onSigterm = (): void => {
    code ??= EXIT.terminated;
    drain.abort();
    if (!cancel.signal.aborted) {
      cancel.abort();
      say({ type: 'stop-requested', stage: 'cancel' });
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  return {
    drain: drain.signal,
    cancel: cancel.signal,
    code: () => code,
    dispose: () => {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
    },
  };
}

