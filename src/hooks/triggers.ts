// Which run events fire which hook, with what data (issue 16): a job's last attempt ending, a host quarantined, the run becoming idle.
import path from 'node:path';
import { describeOutcome, succeeded } from '../exec/types.js';
import type { RunEvent } from '../run/events.js';
import type { RunTally } from '../run/tally.js';
import type { HookData, HookRunner } from './runner.js';

export interface TriggerOptions {
  readonly runner: HookRunner;
  readonly tally: RunTally;
  readonly queueFile: string;
  /** The log file of a job attempt, by its id. */
  readonly logOf: (id: number) => string | undefined;
}

/** Returns the event consumer that fires hooks; on_idle fires each time the tally says the run became idle. */
export function hookTriggers(options: TriggerOptions): (event: RunEvent) => void {
  const { runner } = options;
  // Absolute paths: a hook may hand them to something that runs elsewhere.
  const logOf = (id: number): string => {
    const file = options.logOf(id);
    return file === undefined ? '' : path.resolve(file);
  };
  const numbers = new Map<number, number>();
  let ok = 0;
  let failed = 0;
  options.tally.onIdle(() => runner.fire('on_idle', { queue: options.queueFile, succeeded: String(ok), failed: String(failed) }));
  return (event) => {
    switch (event.type) {
      case 'job-started':
        if (event.number !== undefined) numbers.set(event.id, event.number);
        return;
      case 'job-finished': {
        const number = numbers.get(event.id);
        numbers.delete(event.id);
        // Only a job's end counts: not an attempt that is tried again, nor a job put back in the queue.
        if (event.retrying || event.requeued) return;
        const good = succeeded(event.result);
        if (good) ok += 1;
        else failed += 1;
        const params = Object.fromEntries(event.job.params);
        const data: HookData = {
          ...params,
          job: number === undefined ? '' : String(number),
          command: event.command,
          host: event.subnode.host,
          subnode: event.subnode.label,
          status: good ? 'succeeded' : describeOutcome(event.result),
          exit_code: event.result.exitCode === null ? '' : String(event.result.exitCode),
          signal: event.result.signal ?? '',
          duration: (event.result.durationMs / 1000).toFixed(1),
          attempt: String(event.attempt ?? 1),
          log: logOf(event.id),
          queue: options.queueFile,
        };
        runner.fire('on_finish', data);
        runner.fire(good ? 'on_success' : 'on_failure', data);
        return;
      }
      case 'host-failed':
        runner.fire('on_host_lost', { host: event.host, reason: event.error.reason, message: event.error.message, queue: options.queueFile });
        return;
      default:
    }
  };
}
