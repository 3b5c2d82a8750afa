// `pegasus kill`, `pause`, `resume`, `drain`: thin clients of the runs' control sockets (issue 14).
import path from 'node:path';
import { askRun, askRuns, ControlUnreachable, type RunReply } from '../control/client.js';
import { controlDirOf } from '../control/place.js';
import type { ControlRequest } from '../control/protocol.js';
import { ConfigError } from '../errors.js';
import { EXIT } from './exit.js';

export interface SteerFlags {
  readonly queueFile: string;
}

/** Asks every run of the queue; a usage error when none runs or another user owns them. */
async function ask(flags: SteerFlags, request: ControlRequest): Promise<RunReply[]> {
  const dir = controlDirOf(path.resolve(flags.queueFile));
  let replies: RunReply[];
  try {
    replies = await askRuns(dir, request);
  } catch (error) {
    if (error instanceof ControlUnreachable) throw new ConfigError(`Cannot steer the run: ${error.message}.`, { fix: 'Run the command as the user who started `pegasus q` or `pegasus b`.' });
    throw error;
  }
  if (replies.length === 0) {
    throw new ConfigError(`No pegasus is running on ${flags.queueFile}.`, { fix: 'Start one with `pegasus q` or `pegasus b`, or point to its queue with --queue-file.' });
  }
  return replies;
}

type JobsReply = { readonly ok: true; readonly jobs: readonly { number: number; subnode: string }[] };

/** `pegasus kill JOB... [--requeue]`: the run that holds each job stops it; unknown jobs change nothing. */
export async function killJobs(numbers: readonly string[], flags: SteerFlags & { readonly requeue: boolean; readonly pid?: string }): Promise<number> {
  const only = flags.pid === undefined ? undefined : Number(flags.pid);
  if (only !== undefined && !(Number.isInteger(only) && only > 0)) throw new ConfigError(`--pid ${flags.pid} is not a process id.`, { fix: 'Give the pid that `pegasus status` shows as `run pid N`.' });
  const jobs = numbers.map((text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${text} is not a job number.`, { fix: 'Use the number shown as `(job N)` in the `=== run` line, the panel or `pegasus status`.' });
    return n;
  });
  // First find who holds what, so that an unknown job changes nothing anywhere.
  const runs = (await ask(flags, { op: 'jobs' })).filter((r) => r.reply.ok && (only === undefined || r.pid === only)) as { pid: number; reply: JobsReply }[];
  if (only !== undefined && runs.length === 0) throw new ConfigError(`No pegasus with pid ${only} is running on ${flags.queueFile}; nothing was killed.`, { fix: '`pegasus status` lists the runs by pid.' });
  const holders = new Map<number, number[]>();
  for (const n of jobs) holders.set(n, runs.filter((r) => r.reply.jobs.some((j) => j.number === n)).map((r) => r.pid));
  const missing = jobs.filter((n) => (holders.get(n) ?? []).length === 0);
  if (missing.length > 0) {
    throw new ConfigError(`No running job ${missing.join(', ')} on ${flags.queueFile} (finished, never started, or a number of another queue); nothing was killed.`, {
      fix: '`pegasus status` lists the running jobs with their numbers.',
    });
  }
  const ambiguous = jobs.filter((n) => (holders.get(n) ?? []).length > 1);
  if (ambiguous.length > 0) {
    throw new ConfigError(`Job ${ambiguous.join(', ')} is running in more than one run on this queue (pids ${[...new Set(ambiguous.flatMap((n) => holders.get(n) ?? []))].join(', ')}); nothing was killed.`, {
      fix: 'Each run numbers its own jobs: say which run with `--pid PID` (`pegasus status` lists them).',
    });
  }
  const byPid = new Map<number, number[]>();
  for (const n of jobs) {
    const pid = (holders.get(n) ?? [])[0] as number;
    byPid.set(pid, [...(byPid.get(pid) ?? []), n]);
  }
  const dir = controlDirOf(path.resolve(flags.queueFile));
  let code: number = EXIT.ok;
  for (const [pid, list] of byPid) {
    // Only the run that holds them: another run may have a job of the same number by now.
    const reply = await askRun(dir, pid, { op: 'kill', jobs: list, requeue: flags.requeue });
    if (reply?.ok) {
      process.stdout.write(`pegasus: killed job ${list.join(', ')} (run pid ${pid})${flags.requeue ? '; back at the head of the queue' : '; recorded in failed.yaml'}.\n`);
    } else {
      process.stderr.write(`pegasus: run pid ${pid}: ${reply ? reply.error : 'ended before it could answer'}\n`);
      code = EXIT.usage;
    }
  }
  return code;
}

/** `pegasus pause|resume|drain [HOST|SUB-NODE...]`, sent to every run of the queue. */
export async function holdHosts(op: 'pause' | 'resume' | 'drain', targets: readonly string[], flags: SteerFlags): Promise<number> {
  if (op === 'drain' && targets.length === 0) throw new ConfigError('`pegasus drain` needs at least one host.', { fix: 'Name hosts as in hosts.yaml, e.g. `pegasus drain node-2`.' });
  const replies = await ask(flags, { op, targets });
  const worked = replies.filter((r) => r.reply.ok);
  for (const r of replies) if (!r.reply.ok) process.stderr.write(`pegasus: run pid ${r.pid}: ${r.reply.error}\n`);
  if (worked.length === 0) return EXIT.usage;
  const what = targets.length === 0 ? 'the run' : targets.join(', ');
  const done = { pause: `paused ${what}: no new jobs are taken${targets.length ? ' there' : ''} until \`pegasus resume\``, resume: `resumed ${what}`, drain: `draining ${what}: running jobs finish, no new ones start there` }[op];
  process.stdout.write(`pegasus: ${done} (run pid ${worked.map((r) => r.pid).join(', ')}).\n`);
  return EXIT.ok;
}
