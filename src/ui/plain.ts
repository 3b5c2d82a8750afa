// Plain output: each line prefixed by its sub-node, whole lines only, jobs framed by run/done lines.
import { formatPlace } from '../errors.js';
import type { ExecResult } from '../exec/types.js';
import type { BroadcastSummary, RunEvent, RunSummary, SubNodeRef } from '../run/events.js';

/** Where plain output goes. */
export interface PlainSinks {
  /** Job output and job frames. */
  readonly out: (text: string) => void;
  /** pegasus's own messages: connection problems, queue errors, lock notices. */
  readonly err: (text: string) => void;
  /** One line of a sub-node (output or frame), without its prefix; default: `out` with the prefix. The live view wraps these. */
  readonly line?: (subnode: SubNodeRef, text: string) => void;
}

export interface PlainOptions {
  /** Show only every Nth output line of each job on screen; 0 shows none (Pegasus's --print-period). */
  readonly printPeriod: number;
  /** The `[label]` prefix of a sub-node's lines (coloured, or not); default plain brackets. */
  readonly prefix?: (subnode: SubNodeRef) => string;
}

/** Returns an event consumer that writes plain prefixed lines. Each write is one whole line. */
export function plainPrinter(sinks: PlainSinks, options: PlainOptions): (event: RunEvent) => void {
  const prefix = options.prefix ?? ((subnode: SubNodeRef) => `[${subnode.label}]`);
  const line = sinks.line ?? ((subnode: SubNodeRef, text: string) => sinks.out(`${prefix(subnode)} ${text}\n`));
  const lineCounts = new Map<number, number>();
  // What runs now, to say so when the user presses Ctrl-C.
  const running = new Map<number, { readonly label: string; readonly command: string; readonly since: number }>();
  let stopSaid = false;
  let cancelling = false;
  let waitingSaid: number | undefined;
  const gpuSaid = new Map<string, string>();
  return (event) => {
    switch (event.type) {
      case 'file-fault':
        sinks.err(`pegasus: ${event.error.describe()}\n`);
        if (!event.stopping) sinks.err('pegasus: the run goes on without the job logs it cannot write (this is said once).\n');
        else if (!stopSaid && !cancelling && running.size > 0) sinks.err(`pegasus: no more jobs will be taken; ${running.size === 1 ? 'the running job finishes' : `the ${running.size} running jobs finish`} first.\n`);
        stopSaid ||= event.stopping;
        return;
      case 'stop-requested': {
        cancelling ||= event.stage === 'cancel';
        const list = [...running.values()].map(
          (r) => `\n  [${r.label}] ${oneLine(r.command)} (running for ${((Date.now() - r.since) / 1000).toFixed(1)}s)`,
        );
        if (event.stage === 'drain') {
          sinks.err(
            `pegasus: stopping: no new jobs will be taken; waiting for ${running.size} running job${running.size === 1 ? '' : 's'} to finish. Press Ctrl-C again to cancel ${running.size === 1 ? 'it' : 'them'}.${list.join('')}\n`,
          );
        } else {
          sinks.err(`pegasus: cancelling ${running.size} running job${running.size === 1 ? '' : 's'}; ${running.size === 1 ? 'it goes' : 'they go'} back to the head of the queue.${list.join('')}\n`);
        }
        return;
      }
      case 'job-started':
        running.set(event.id, { label: event.subnode.label, command: event.command, since: Date.now() });
        lineCounts.set(event.id, 0);
        line(event.subnode, `=== run ${oneLine(event.command)}${jobTag(event.number, event.attempt)} ===`);
        return;
      case 'job-output': {
        const seen = (lineCounts.get(event.id) ?? 0) + 1;
        lineCounts.set(event.id, seen);
        if (options.printPeriod > 0 && seen % options.printPeriod === 0) line(event.subnode, event.line);
        return;
      }
      case 'job-finished':
        running.delete(event.id);
        lineCounts.delete(event.id);
        line(
          event.subnode,
          `=== ${describeEnd(event.result)}${event.requeued ? ', job put back at the head of the queue' : ''}${event.retrying ? ', will be retried on the next free sub-node' : ''} ===`,
        );
        return;
      case 'host-connected':
      case 'queue-size':
        return;
      case 'steer':
        sinks.err(`pegasus: ${steerText(event)}\n`);
        return;
      case 'subnode-added':
        sinks.err(`pegasus: [${event.subnode.label}] joined the run (hosts file).\n`);
        return;
      case 'subnode-state':
        // Pause and drain requests were said by their steer event; what follows from them is said here.
        if (event.state === 'drained') sinks.err(`pegasus: [${event.subnode.label}] drained: its jobs ended and its host's connections are closed (\`pegasus resume ${event.subnode.host}\` brings it back).\n`);
        if (event.state === 'removed') sinks.err(`pegasus: [${event.subnode.label}] left the run (no longer in the hosts file).\n`);
        return;
      case 'hosts-reloaded': {
        const parts = [
          ...(event.added.length ? [`added ${event.added.map((l) => `[${l}]`).join(', ')}`] : []),
          ...(event.removed.length ? [`removed ${event.removed.map((l) => `[${l}]`).join(', ')} (each leaves once its running jobs end)`] : []),
          ...(event.changed.length ? [`changed ${event.changed.map((l) => `[${l}]`).join(', ')} (the new definition takes over once its running jobs end)`] : []),
        ];
        sinks.err(`pegasus: ${event.file} changed: ${parts.join('; ')}.\n`);
        return;
      }
      case 'subnode-slots':
        sinks.err(
          event.gpus.length > 0
            ? `pegasus: [${event.subnode.label}] has ${event.gpus.length} GPU${event.gpus.length === 1 ? '' : 's'} (${event.gpus.join(', ')}): ${event.subnode.slots ?? 1} slot${(event.subnode.slots ?? 1) === 1 ? '' : 's'}.\n`
            : `pegasus: [${event.subnode.label}] has no GPU pegasus can use (slots: auto); it takes no job.\n`,
        );
        return;
      case 'gpu-state':
        // Someone else's work taking or leaving a GPU is said; the rest (our jobs, memory) the panel and `pegasus status` show.
        for (const gpu of event.gpus) {
          const key = `${event.subnode.index}#${gpu.id}`;
          const before = gpuSaid.get(key);
          if (gpu.state === 'busy' && before !== 'busy') sinks.err(`pegasus: [${event.subnode.label}] GPU ${gpu.id} is busy: ${gpu.reason ?? 'in use'}; no job starts there until it is free.\n`);
          if (gpu.state === 'free' && before === 'busy') sinks.err(`pegasus: [${event.subnode.label}] GPU ${gpu.id} is free again.\n`);
          gpuSaid.set(key, gpu.state);
        }
        return;
      case 'head-waiting':
        // Said once per waiting job; the panel and `pegasus status` follow the reason as it changes.
        if (event.job !== undefined && event.job !== waitingSaid) sinks.err(`pegasus: job ${event.job} waits: it ${event.reason ?? ''}.\n`);
        waitingSaid = event.job;
        return;
      case 'hook-failed':
        sinks.err(`pegasus: hook ${event.kind}${event.job === undefined ? '' : ` (job ${event.job})`} failed: ${event.message}${event.log ? `; its output is in ${event.log}` : ''}. The run goes on.\n`);
        return;
      case 'gpu-error':
        sinks.err(`pegasus: host ${event.host}: slots: auto, but ${event.message}; its GPU sub-nodes take no job while it fails.\n`);
        return;
      case 'hosts-error':
        sinks.err(`pegasus: ${event.error.describe()}\npegasus: the run goes on with the hosts it had; the edit is applied once the file is fixed.\n`);
        return;
      case 'job-unrunnable':
        sinks.err(`pegasus: not running \`${oneLine(event.job.command)}\`: it ${event.reason}; recorded in failed.yaml.\n`);
        return;
      case 'host-failed':
        sinks.err(`pegasus: host ${event.host}: ${event.error.message}\n`);
        return;
      case 'host-lost':
        sinks.err(`pegasus: host ${event.host}: ${event.error.message}; reconnecting in ${(event.retryInMs / 1000).toFixed(0)}s.\n`);
        return;
      case 'host-reconnected':
        sinks.err(`pegasus: host ${event.host}: reconnected.\n`);
        return;
      case 'queue-error':
        sinks.err(`pegasus: ${event.error.describe()}\n`);
        if (event.waiting) sinks.err('pegasus: waiting for the queue file to be fixed; nothing in it was changed.\n');
        return;
      case 'queue-idle':
        sinks.err(`pegasus: ${event.file} is empty; waiting for new entries (daemon mode, Ctrl-C to stop).\n`);
        return;
      case 'queue-missing':
        sinks.err(`pegasus: ${event.file} does not exist (deleted?); waiting for it to come back.\n`);
        return;
      case 'lock-notice':
        if (event.notice.kind === 'stale-recovered') {
          sinks.err(`pegasus: took over the queue lock ${event.notice.lockPath}: its holder stopped refreshing it ${(event.notice.ageMs / 1000).toFixed(1)}s ago (a pegasus that was killed).\n`);
        } else if (event.notice.kind === 'waiting') {
          const owner = event.notice.owner;
          const holder = owner
            ? `locked by pid ${owner.pid} (${owner.what}) since ${new Date(owner.since).toLocaleTimeString()}`
            : 'held by another pegasus process';
          sinks.err(`pegasus: the queue is ${holder}; waiting for ${event.notice.lockPath} to be released...\n`);
        } else {
          sinks.err(`pegasus: the queue lock ${event.notice.lockPath} was lost: ${event.notice.message}\n`);
        }
        return;
    }
  };
}

/** " (job 3)", " (job 3, attempt 2)": the number `pegasus kill` takes (issue 14). */
function jobTag(number: number | undefined, attempt: number): string {
  const parts = [...(number === undefined ? [] : [`job ${number}`]), ...(attempt > 1 ? [`attempt ${attempt}`] : [])];
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** What a steering request changed, in words. */
export function steerText(event: Extract<RunEvent, { type: 'steer' }>): string {
  const targets = event.targets && event.targets.length > 0 ? event.targets.join(', ') : undefined;
  switch (event.action) {
    case 'kill':
      return `killing job ${(event.jobs ?? []).join(', ')} (pegasus kill)${event.requeue ? '; it goes back to the head of the queue' : ''}.`;
    case 'pause':
      return targets ? `paused ${targets}: no new jobs start there until resumed.` : 'paused: no new jobs are taken until `pegasus resume`; running jobs go on.';
    case 'resume':
      return targets ? `resumed ${targets}.` : 'resumed: taking jobs again.';
    case 'drain':
      return `draining ${targets ?? ''}: running jobs finish there, no new ones start (back with \`pegasus resume\`).`;
  }
}

/** "done (exit 0, 3.2s)", "done (signal SIGKILL, 1.0s)", "lost connection (...)". */
export function describeEnd(result: ExecResult): string {
  const seconds = `${(result.durationMs / 1000).toFixed(1)}s`;
  if (result.stopUnconfirmed) return `${result.timedOut ? 'timed out' : 'cancelled'} after ${seconds}, not confirmed stopped: ${result.stopUnconfirmed.message}`;
  if (result.transportError) return `lost connection after ${seconds}: ${result.transportError.message}`;
  if (result.timedOut) return `timed out after ${seconds}, stopped`;
  if (result.killed) return `killed (${seconds})`;
  if (result.cancelled) return `cancelled (${seconds})`;
  if (result.signal) return `done (signal ${result.signal}, ${seconds})`;
  return `done (exit ${result.exitCode ?? '?'}, ${seconds})`;
}

/** The end-of-run summary: counts, then one line per failed job. */
export function summaryText(summary: RunSummary, logPathOf: (id: number) => string | undefined = () => undefined): string {
  const lines: string[] = [];
  const total = summary.succeeded + summary.failed.length;
  lines.push(`pegasus: ${total} job${total === 1 ? '' : 's'} run, ${summary.succeeded} succeeded, ${summary.failed.length} failed (${(summary.durationMs / 1000).toFixed(1)}s).`);
  for (const job of summary.unrunnable ?? []) lines.push(`  NOT RUN (${job.reason}): ${oneLine(job.command)}`);
  for (const failure of summary.failed) {
    const attempts = failure.attempts && failure.attempts > 1 ? ` after ${failure.attempts} attempts` : '';
    lines.push(`  FAILED [${failure.subnode.label}] ${describeEnd(failure.result)}${attempts}${failure.requeued ? ' (put back in the queue)' : ''}: ${oneLine(failure.command)}`);
    const log = logPathOf(failure.id);
    if (log) lines.push(`         log: ${log}`);
  }
  lines.push(...unconfirmedLines(summary.failed));
  if (summary.retried) lines.push(`  ${summary.retried} job${summary.retried === 1 ? '' : 's'} needed more than one attempt.`);
  if (summary.putBack) lines.push(`  ${summary.putBack} job${summary.putBack === 1 ? '' : 's'} waiting for a retry went back to the head of the queue.`);
  if (summary.deadHosts.length > 0) lines.push(`  unreachable or lost hosts: ${summary.deadHosts.join(', ')}`);
  if (summary.stranded) lines.push('  no host was left to run jobs (unreachable, or slots: auto with no GPU pegasus can use); what remains is still in the queue file.');
  if (summary.queueError) {
    const where = summary.queueError.place ? ` (${formatPlace(summary.queueError.place)})` : '';
    lines.push(`  stopped at a bad queue entry${where}; it is still at the head of the queue.`);
  }
  lines.push(...faultLines(summary));
  return `${lines.join('\n')}\n`;
}

/** One line per file the run could not write (each was explained when it happened). */
function faultLines(summary: RunSummary): string[] {
  return (summary.fileFaults ?? []).map((fault) => `  stopped taking jobs: could not write ${fault.file} (${fault.code}); see the message above.`);
}

/** One line per job whose host never confirmed it stopped (issue 13): the user should know it may still run there for a while. */
function unconfirmedLines(failed: RunSummary['failed']): string[] {
  return failed
    .filter((f) => f.result.stopUnconfirmed)
    .map(
      (f) =>
        `  the job on ${f.subnode.label} could not be confirmed stopped: ${f.result.stopUnconfirmed?.message ?? ''}; the host stops it by itself once it notices pegasus is gone.`,
    );
}

/** A command on one line (newlines shown as ⏎), cut at 200 characters. */
export function oneLine(text: string): string {
  const flat = text.trim().replace(/\s*\n\s*/g, ' ⏎ ');
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

/** The broadcast end summary: a table of job x sub-node with each cell's status. */
export function broadcastSummaryText(summary: BroadcastSummary, subnodes: readonly SubNodeRef[]): string {
  const lines: string[] = [];
  const cells = summary.succeeded + summary.failed.length;
  lines.push(
    `pegasus: broadcast ${summary.rounds.length} job${summary.rounds.length === 1 ? '' : 's'} to ${subnodes.length - summary.unreachable.length} of ${subnodes.length} sub-nodes (${(summary.durationMs / 1000).toFixed(1)}s): ${cells - summary.failed.length} succeeded, ${summary.failed.length} failed.`,
  );
  if (summary.rounds.length > 0) {
    const header = ['job', ...subnodes.map((s) => s.label)];
    const rows = summary.rounds.map((round, i) => [
      `${i + 1}. ${shorten(oneLine(round.job.command), 40)}`,
      ...subnodes.map((s) => {
        const cell = round.cells.find((c) => c.subnode.index === s.index);
        if (round.cells.length > 0 && !cell) return '-'; // not in the run for this job (joined later, or left)
        return cell?.absent ?? (cell?.skipped ? 'too few slots' : cellText(cell?.result));
      }),
    ]);
    const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => (r[col] ?? '').length)));
    for (const row of [header, ...rows]) lines.push(`  ${row.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join('  ').trimEnd()}`);
  }
  lines.push(...unconfirmedLines(summary.failed));
  if (summary.unreachable.length > 0) {
    const names = summary.unreachable.map((s) => s.label).join(', ');
    lines.push(
      summary.aborted && summary.rounds.length === 0
        ? `  aborted before taking any job (-e): unreachable at start: ${names}.`
        : `  unreachable at start, so the broadcast ran without them: ${names}.`,
    );
  }
  if (summary.aborted && summary.rounds.length > 0) {
    lines.push(`  aborted after job ${summary.rounds.length} failed (-e); the rest of the queue is untouched.`);
  }
  if (summary.queueError) lines.push(`  stopped at a bad queue entry; it is still at the head of the queue.`);
  lines.push(...faultLines(summary));
  return `${lines.join('\n')}\n`;
}

function cellText(result: ExecResult | undefined): string {
  if (!result) return 'skipped';
  if (result.stopUnconfirmed) return 'not confirmed stopped';
  if (result.transportError) return 'lost';
  if (result.timedOut) return 'timed out';
  if (result.cancelled) return 'cancelled';
  if (result.signal) return result.signal;
  return result.exitCode === 0 ? 'ok' : `exit ${result.exitCode ?? '?'}`;
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
