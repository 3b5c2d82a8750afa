// `pegasus q` and `pegasus b`: load the files, connect, run the mode, print, and say which exit code the outcome means.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseDuration } from '../config/duration.js';
import { loadHosts, type SubNode } from '../config/hosts.js';
import { checkCollisions, checkEntry, parseQueue } from '../config/jobs.js';
import { ConfigError } from '../errors.js';
import { readQueueText } from '../queue/text.js';
import { QueueStore, queueFilesOf } from '../queue/store.js';
import { runBroadcast } from '../run/broadcast-mode.js';
import type { RunEvent, RunSummary } from '../run/events.js';
import { collectInterrupted, forgetJournals, Journal, journalDirOf, markReturning, type InterruptedJob } from '../run/journal.js';
import { runQueue } from '../run/queue-mode.js';
import { GpuWatch } from '../run/gpu-watch.js';
import { Roster } from '../run/roster.js';
import { Steering } from '../run/steering.js';
import { ControlServer } from '../control/server.js';
import { controlDirOf } from '../control/place.js';
import { refOf } from '../run/sessions.js';
import { summaryJson } from '../ui/json.js';
import { JobLogs } from '../ui/logs.js';
import { broadcastSummaryText, summaryText } from '../ui/plain.js';
import { EXIT } from './exit.js';
import { openConnections, type Connections } from './connections.js';
import { dryRun } from './dry-run.js';
import { countEntries } from '../queue/count.js';
import { hooksOf, startRunHooks } from './run-hooks.js';
import type { Hook } from '../hooks/config.js';
import { liveHosts } from './hosts-live.js';
import { countQueueNow } from './queue-size.js';
import { openScreen } from './screen.js';
import { stopOnSignals } from './signals.js';

/** The flags q and b share (Pegasus-compatible names). */
export interface RunFlags {
  readonly queueFile: string;
  readonly hostsFile: string;
  readonly sshConfig?: string;
  readonly printPeriod: number;
  readonly dryRun: boolean;
  readonly daemon: boolean;
  readonly errorAborts?: boolean;
  /** --timeout, as written (90m, 30s, 1h30m). */
  readonly timeout?: string;
  readonly failFast?: boolean;
  /** Put jobs that a run which died had started (and never finished) back at the head of the queue. */
  readonly requeueInterrupted?: boolean;
  readonly retries?: number;
  readonly retryFailed?: boolean;
  /** --backfill (slots, issue 8). */
  readonly backfill?: boolean;
  /** One JSON object per event on stdout instead of text. */
  readonly json?: boolean;
  /** Where per-job logs go (default `.pegasus/logs` beside the queue file). */
  readonly logDir?: string;
  /** Plain prefixed lines even on a terminal (no live view). */
  readonly plain?: boolean;
  /** Each job's output as one block when it ends; --keep-order: in the order jobs were taken. */
  readonly group?: boolean;
  readonly keepOrder?: boolean;
  /** Channels per SSH connection. */
  readonly maxSessions?: number;
  /** Hooks (issue 16): --on-failure, --on-success, --on-finish, --on-idle, --on-host-lost, --hook-timeout. */
  readonly onFailure?: string;
  readonly onSuccess?: string;
  readonly onFinish?: string;
  readonly onIdle?: string;
  readonly onHostLost?: string;
  readonly hookTimeout?: string;
  /** SSH handshakes in flight at once. */
  readonly maxStartups?: number;
}

/** Runs queue or broadcast mode to the end; returns the exit code. */
export async function runMode(mode: 'queue' | 'broadcast', flags: RunFlags): Promise<number> {
  const subnodes = await loadHosts(flags.hostsFile);
  const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout);
  if (flags.timeout !== undefined && timeoutMs === undefined) {
    throw new ConfigError(`--timeout ${flags.timeout} is not a duration.`, { fix: 'Write it like 90m, 30s, 1h30m or 2h.' });
  }
  if (flags.dryRun) return dryRun(subnodes, flags);
  const hooks = await hooksOf(flags);
  // Check the whole file once before connecting: a syntax error, an entry without `command` or a
  // parameter clash anywhere is reported before anything runs. Templates are checked as entries are taken.
  const text = await readQueueText(flags.queueFile, { missingOk: flags.daemon });
  for (const entry of parseQueue(text, flags.queueFile)) checkCollisions(entry, subnodes);

  // Hosts start connecting now, while the rest is set up (issue 7: start-up).
  const connections = await openConnections(flags, subnodes);
  try {
    return await runWithConnections(mode, flags, subnodes, connections, timeoutMs, hooks);
  } finally {
    await connections.close();
  }
}

/** The run itself, once the queue has been checked and the hosts are connecting. */
async function runWithConnections(
  mode: 'queue' | 'broadcast',
  flags: RunFlags,
  subnodes: readonly SubNode[],
  connections: Connections,
  timeoutMs: number | undefined,
  hooks: readonly Hook[],
): Promise<number> {
  const files = queueFilesOf(flags.queueFile);
  // A log that cannot be written is said once and the run goes on without it (issue 13).
  const logs = new JobLogs(flags.logDir ?? path.join(path.dirname(files.queue), '.pegasus', 'logs'), {
    onFault: (error) => print({ type: 'file-fault', error, stopping: false }),
  });
  const screen = await openScreen({
    json: flags.json ?? false,
    plain: flags.plain ?? false,
    printPeriod: flags.printPeriod,
    subnodes: subnodes.map(refOf),
    ...(flags.group || flags.keepOrder
      ? { group: { keepOrder: flags.keepOrder ?? false, logOf: async (id: number) => (await logs.written(id), logs.pathOf(id)) } }
      : {}),
    barrier: mode === 'broadcast',
    title: `pegasus ${mode === 'queue' ? 'q' : 'b'} · ${path.basename(files.queue)}${flags.daemon ? ' · daemon' : ''}`,
  });
  // Every event goes to the logs (which keep everything), the screen, and the hooks and `pegasus wait` (issue 16).
  const print = (event: RunEvent): void => {
    logs.onEvent(event);
    screen.onEvent(event);
    runHooks.onEvent(event);
  };
  const runHooks = startRunHooks({ hooks, queueFile: path.resolve(files.queue), logDir: logs.dir, logOf: (id) => logs.pathOf(id), emit: print, json: flags.json ?? false });
  const stopCounting = screen.kind === 'json' ? () => {} : countQueueNow(files.queue, print);
  const stop = stopOnSignals(print);
  // The queue watcher loads only for the daemon.
  const watcher = flags.daemon ? await (await import('../queue/watch.js')).QueueWatcher.start(files.queue) : undefined;
  const journal = await Journal.open(journalDirOf(files.queue));
  // Who is in the run: pause, drain and edits of hosts.yaml change it while it goes on (issue 14).
  const roster = new Roster(subnodes, print);
  const store = new QueueStore(files, {
    check: (entry) => checkEntry(entry, roster.subnodes),
    onLockNotice: (notice) => print({ type: 'lock-notice', notice }),
    onTaken: (jobs, pending) => journal.taken(jobs, pending),
    onKept: (jobs) => journal.kept(jobs),
    onReturning: (jobs, pending) => journal.returning(jobs, pending),
    onNotReturned: (jobs) => journal.returning(jobs, null),
  });
  await accountForInterrupted(store, flags, screen.say);
  // `pegasus kill`, `pause`, `resume`, `drain` from another terminal reach this run here (issue 14).
  const gpus = new GpuWatch(print);
  const steering = new Steering(roster, print, mode, gpus);
  steering.tally = runHooks.tally;
  steering.queued = async () => countEntries(await readFile(files.queue, 'utf8').catch(() => ''));
  const control = await ControlServer.listen(controlDirOf(files.queue), (request) => steering.handle(request));
  const hostsFile = liveHosts(flags.hostsFile, files.queue, roster, print);
  const common = {
    backpressure: () => {
      const slow = [process.stdout, process.stderr].find((s) => s.writableLength > BEHIND_BYTES) ?? logs.behind(BEHIND_BYTES);
      return slow ? drained(slow) : undefined;
    },
    subnodes,
    store,
    journal,
    executorFor: connections.executorFor,
    hangUp: connections.hangUp,
    gpus,
    emit: print,
    signal: stop.drain,
    steering,
    cancel: stop.cancel,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(watcher ? { watcher } : {}),
  };
  try {
    let summary: RunSummary;
    // The summary comes after the view is closed: the live panel is gone from the screen by then.
    const report = async (text: string, result: RunSummary): Promise<void> => {
      stopCounting();
      await screen.close();
      runHooks.screenClosed((line) => process.stderr.write(line));
      if (flags.json) process.stdout.write(`${JSON.stringify(summaryJson(result))}\n`);
      else process.stderr.write(text);
    };
    if (mode === 'queue') {
      summary = await runQueue({
        ...common,
        failFast: flags.failFast ?? false,
        retries: flags.retries ?? 2,
        retryFailed: flags.retryFailed ?? false,
        backfill: flags.backfill ?? false,
      });
      // A run that ended by itself with its queue done is idle for good (on_idle, `pegasus wait`).
      if (stop.code() === undefined && !flags.daemon && !summary.stranded && !summary.queueError) runHooks.queueDone();
      await report(summaryText(summary, (id) => logs.pathOf(id)), summary);
    } else {
      const broadcast = await runBroadcast({ ...common, errorAborts: flags.errorAborts ?? false });
      if (stop.code() === undefined && !flags.daemon && !broadcast.aborted && !broadcast.stranded && !broadcast.queueError) runHooks.queueDone();
      // A column for every sub-node that was in the run at some point (hosts.yaml may have changed).
      const columns = new Map([...subnodes.map(refOf), ...broadcast.rounds.flatMap((r) => r.cells.map((c) => c.subnode))].map((s) => [s.index, s]));
      await report(broadcastSummaryText(broadcast, [...columns.values()].sort((a, b) => a.index - b.index)), broadcast);
      const tooSmall = broadcast.rounds.some((round) => round.cells.some((cell) => cell.skipped !== undefined));
      if (broadcast.aborted || broadcast.unreachable.length > 0 || tooSmall) return stop.code() ?? EXIT.failed;
      summary = broadcast;
    }
    const stopped = stop.code();
    if (stopped !== undefined) return stopped;
    if (summary.queueError) return EXIT.usage;
    if ((summary.fileFaults?.length ?? 0) > 0) return EXIT.failed; // a queue file could not be written (issue 13)
    return summary.failed.length > 0 || summary.stranded || (summary.unrunnable?.length ?? 0) > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    stopCounting();
    await hostsFile.close();
    await runHooks.close((text) => process.stderr.write(text));
    await control.close();
    await screen.close();
    stop.dispose();
    await watcher?.close();
    await store.close();
    await journal.close();
    await logs.close();
  }
}

/**
 * Jobs that an earlier run took and never finished (it was killed, or its machine went down) are
 * reported; with --requeue-interrupted they go back to the head of the queue (issue 5).
 */
async function accountForInterrupted(store: QueueStore, flags: RunFlags, say: (text: string) => void): Promise<void> {
  const dir = journalDirOf(store.files.queue);
  const listOf = (jobs: readonly InterruptedJob[]): string =>
    jobs.map((j) => `\n  ${j.subnode ? `[${j.subnode}] ` : ''}${typeof j.job === 'string' ? j.job : JSON.stringify(j.job)} (pid ${j.pid})`).join('');
  if (flags.requeueInterrupted) {
    // Found and put back under the queue lock, so two runs starting together do not both put them
    // back. The dead journals name the new queue file before it is renamed in and are forgotten
    // after: a crash at any point puts each job back once.
    let found: { readonly jobs: InterruptedJob[]; readonly files: string[] } = { jobs: [], files: [] };
    await store.add(
      async () => {
        found = await collectInterrupted(dir);
        return found.jobs.length === 0 ? '' : stringify(found.jobs.map((j) => j.job), { schema: 'failsafe', lineWidth: 0 });
      },
      { front: true, record: { pending: (temp) => markReturning(found.jobs, temp), failed: () => markReturning(found.jobs, null) } },
    );
    const { jobs, files } = found;
    if (jobs.length === 0) return;
    await forgetJournals(files);
    say(`pegasus: put ${jobs.length} job${jobs.length === 1 ? '' : 's'} that an earlier run took and never finished back at the head of the queue:${listOf(jobs)}\n`);
    return;
  }
  const { jobs } = await collectInterrupted(dir);
  if (jobs.length === 0) return;
  say(
    `pegasus: ${jobs.length} job${jobs.length === 1 ? '' : 's'} taken by an earlier run that died never finished (they are in consumed.yaml):${listOf(jobs)}\n` +
      'pegasus: run with --requeue-interrupted to put them back at the head of the queue.\n',
  );
}

/** How far a terminal, pipe or log file may fall behind before jobs' output is read no faster than it drains. */
const BEHIND_BYTES = 1 << 20;

/** Resolves when a stream has written what it holds (or is gone). */
function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
