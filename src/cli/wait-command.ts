// `pegasus wait [JOB...]` (issue 16): blocks until those jobs (or the queue) are done, through the run's control socket; else from the files.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDuration } from '../config/duration.js';
import { askRun, askRuns, ControlUnreachable, type RunReply } from '../control/client.js';
import { controlDirOf } from '../control/place.js';
import { ConfigError } from '../errors.js';
import { countEntries } from '../queue/count.js';
import { journalDirOf, readRuns } from '../run/journal.js';
import type { WaitAnswer } from '../run/tally.js';
import { EXIT } from './exit.js';

export interface WaitFlags {
  readonly queueFile: string;
  readonly timeout?: string;
  readonly pid?: string;
}

/** `wait --timeout` ran out (as GNU timeout). */
const TIMED_OUT = 124;

export async function waitFor(numbers: readonly string[], flags: WaitFlags): Promise<number> {
  const jobs = numbers.map((text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${text} is not a job number.`, { fix: 'Use the number shown as `(job N)` in the `=== run` line, the panel or `pegasus status`.' });
    return n;
  });
  const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout);
  if (flags.timeout !== undefined && timeoutMs === undefined) throw new ConfigError(`--timeout ${flags.timeout} is not a duration.`, { fix: 'Write it like 90s, 30m or 2h.' });
  const only = flags.pid === undefined ? undefined : Number(flags.pid);
  if (only !== undefined && !(Number.isInteger(only) && only > 0)) throw new ConfigError(`--pid ${flags.pid} is not a process id.`, { fix: 'Give the pid that `pegasus status` shows as `run pid N`.' });

  const queueFile = path.resolve(flags.queueFile);
  const dir = controlDirOf(queueFile);
  let runs: RunReply[];
  try {
    runs = (await askRuns(dir, { op: 'state' })).filter((r) => r.reply.ok && (only === undefined || r.pid === only));
  } catch (error) {
    if (error instanceof ControlUnreachable) throw new ConfigError(`Cannot wait for the run: ${error.message}.`, { fix: 'Run `pegasus wait` as the user who started the run.' });
    throw error;
  }
  if (runs.length === 0) return fromFiles(queueFile, flags.queueFile, jobs, only);
  if (jobs.length > 0 && runs.length > 1) {
    throw new ConfigError(`${runs.length} runs share ${flags.queueFile} (pids ${runs.map((r) => r.pid).join(', ')}), and each numbers its own jobs.`, { fix: 'Say which run with `--pid PID` (`pegasus status` lists them).' });
  }

  process.stderr.write(`pegasus: waiting for ${jobs.length > 0 ? `job ${jobs.join(', ')}` : `${flags.queueFile} to be done`} (run pid ${runs.map((r) => r.pid).join(', ')}).\n`);
  const giveUp = new AbortController();
  const answers = Promise.all(
    runs.map(async (run) => {
      const reply = await askRun(dir, run.pid, { op: 'wait', ...(jobs.length > 0 ? { jobs } : {}) }, giveUp.signal);
      if (reply === undefined) return { pid: run.pid, gone: true as const };
      if (!reply.ok) throw new ConfigError(`Cannot wait for that in run pid ${run.pid}: ${reply.error}.`, { fix: '`pegasus status` lists the running jobs with their numbers; a job taken but not started yet has no number to wait for.' });
      return { pid: run.pid, answer: reply as unknown as WaitAnswer };
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    if (timeoutMs !== undefined) timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const result = await Promise.race([answers, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    giveUp.abort();
    process.stderr.write(`pegasus: gave up waiting after ${flags.timeout}: ${jobs.length > 0 ? `job ${jobs.join(', ')}` : flags.queueFile} not done yet.\n`);
    return TIMED_OUT;
  }
  let bad = false;
  for (const r of result) {
    const who = runs.length > 1 ? `run pid ${r.pid}: ` : '';
    if ('gone' in r) {
      process.stdout.write(`${who}the run ended before it could answer.\n`);
      bad = true;
      continue;
    }
    const { ended, unfinished, runEnded } = r.answer;
    const failed = ended.filter((e) => !e.ok);
    if (jobs.length > 0) {
      for (const e of ended) process.stdout.write(`${who}job ${e.number}: ${e.ok ? 'succeeded' : `failed (${e.outcome})`}\n`);
      for (const n of unfinished) process.stdout.write(`${who}job ${n}: not finished: the run ended first\n`);
    } else {
      const list = failed.map((e) => `job ${e.number} ${e.outcome}`).join(', ');
      process.stdout.write(
        `${who}${runEnded ? `the run ended before ${flags.queueFile} was done` : `${flags.queueFile} is done: it is empty and nothing runs`}; ${ended.length} job${ended.length === 1 ? '' : 's'} ended while waiting, ${failed.length} failed${list ? ` (${list})` : ''}.\n`,
      );
    }
    bad ||= failed.length > 0 || unfinished.length > 0 || runEnded;
  }
  return bad ? EXIT.failed : EXIT.ok;
}

/** No run listens: answer from the queue file and the journals (what earlier runs left unfinished). */
async function fromFiles(queueFile: string, shown: string, jobs: readonly number[], only: number | undefined): Promise<number> {
  if (jobs.length > 0 || only !== undefined) {
    throw new ConfigError(`No pegasus${only === undefined ? '' : ` with pid ${only}`} is running on ${shown}, so there is no job ${jobs.join(', ')} to wait for.`, {
      fix: 'Job numbers belong to a running run: start one with `pegasus q`, or wait for the whole queue with `pegasus wait`.',
    });
  }
  const interrupted = (await readRuns(journalDirOf(queueFile))).filter((r) => !r.alive && r.open.length > 0);
  if (interrupted.length > 0) {
    const n = interrupted.reduce((sum, r) => sum + r.open.length, 0);
    process.stdout.write(`No run is going on, and an earlier run (pid ${interrupted.map((r) => r.pid).join(', ')}) died with ${n} job${n === 1 ? '' : 's'} unfinished: \`pegasus status\` lists them.\n`);
    return EXIT.failed;
  }
  const text = await readFile(queueFile, 'utf8').catch(() => '');
  const entries = countEntries(text);
  if (entries > 0) {
    throw new ConfigError(`No pegasus is running on ${shown}, and it holds ${entries} entr${entries === 1 ? 'y' : 'ies'}: waiting would never end.`, {
      fix: 'Start a run first (e.g. `pegasus q --daemon`), then `pegasus wait`.',
    });
  }
  process.stdout.write(`${shown} is done: it is empty and no run is going on.\n`);
  return EXIT.ok;
}
