// Plain mode's progress line on stderr: totals, at most once per period and only when they changed.
import type { RunEvent, SubNodeRef } from '../run/events.js';
import { elapsed } from './live/format.js';
import { applyEvent, initialState } from './state.js';

/** Every this often at most (the issue asks for "at most every few seconds"). */
export const PROGRESS_PERIOD_MS = 5000;

export interface ProgressReporter {
  readonly onEvent: (event: RunEvent) => void;
  readonly stop: () => void;
}

export function progressReporter(subnodes: readonly SubNodeRef[], write: (text: string) => void, periodMs: number = PROGRESS_PERIOD_MS): ProgressReporter {
  const state = initialState(subnodes);
  let last = '';
  const timer = setInterval(() => {
    const t = state.totals;
    const counts = `${t.done} done, ${t.failed} failed, ${t.running} running${t.retried ? `, ${t.retried} retried` : ''}${t.queued !== undefined ? `, ${t.queued} queued` : ''}`;
    if (counts === last) return;
    last = counts;
    write(`pegasus: progress: ${counts} (${elapsed(Date.now() - state.startedAt)})\n`);
  }, periodMs);
  timer.unref();
  return {
    onEvent: (event) => {
      applyEvent(state, event);
    },
    stop: () => clearInterval(timer),
  };
}
