// The heartbeat pegasus writes to a job's wrapper: a line every few seconds on the job's stdin; its end means "stop".
import { HEARTBEAT_MS } from './wrapper.js';

/** Something the heartbeat can write to and end: a local process's stdin or an SSH channel. */
interface Writable {
  write(chunk: string): unknown;
  end(): unknown;
}

/** Starts writing heartbeats; the returned function stops them, and `cancel` ends the stream (the wrapper then kills the job's tree). */
export function heartbeat(stream: Writable): { stop: () => void; cancel: () => void } {
  const timer = setInterval(() => stream.write('\n'), HEARTBEAT_MS);
  timer.unref();
  return {
    stop: () => clearInterval(timer),
    cancel: () => {
      clearInterval(timer);
      stream.end();
    },
  };
}
