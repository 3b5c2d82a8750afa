// The queue's entry count for the panel and the progress line, taken now and then.
import { entryCounter } from '../queue/count.js';
import type { RunEvent } from '../run/events.js';

/** How often the queue's entries are counted for the panel and the progress line (a stat; a read only when it changed). */
const COUNT_EVERY_MS = 1000;

/** Emits `queue-size` now and every couple of seconds; returns the function that stops it. */
export function countQueueNow(file: string, emit: (event: RunEvent) => void): () => void {
  const count = entryCounter(file);
  const tick = (): void => {
    void count().then((entries) => {
      if (entries !== undefined && !stopped) emit({ type: 'queue-size', entries });
    });
  };
  let stopped = false;
  tick();
  const timer = setInterval(tick, COUNT_EVERY_MS);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

