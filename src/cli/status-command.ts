// `pegasus status`: what runs on a queue and where, read from files only (journals, lock, queue, log index); works during a run and after it.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadHosts } from '../config/hosts.js';
import { ConfigError } from '../errors.js';
import { countEntries } from '../queue/count.js';
import { lockedFileOf, lockOwner, lockPathOf } from '../queue/lock.js';
import type { GpuView } from '../run/gpu-watch.js';
import { journalDirOf, readRuns, type RunRecord } from '../run/journal.js';
import { gpuLines } from '../ui/gpu-text.js';
import type { LogIndexEntry } from '../ui/logs.js';
import { elapsed, slotBar } from '../ui/live/format.js';
import { oneLine } from '../ui/plain.js';
import { askRuns, type RunReply } from '../control/client.js';
import { controlDirOf } from '../control/place.js';
import { EXIT } from './exit.js';

export interface StatusFlags {
  readonly queueFile: string;
  readonly hostsFile: string;
  readonly logDir?: string;
  readonly json: boolean;
}

/** How many failures status lists. */
const LAST_FAILURES = 5;

export async function showStatus(flags: StatusFlags): Promise<number> {
  const folder = path.dirname(path.resolve(flags.queueFile));
  if (!existsSync(folder)) {
    throw new ConfigError(`The folder of the queue file ${flags.queueFile} does not exist.`, {
      place: { file: flags.queueFile },
      fix: 'Run pegasus status where your queue.yaml is, or point to it with --queue-file.',
    });
  }
  const now = Date.now();
  const queueText = await readFile(flags.queueFile, 'utf8').catch(() => undefined);
  const entries = queueText === undefined ? undefined : countEntries(queueText);
  const owner = await lockOwner(flags.queueFile);
  const locked = owner !== undefined || (await stat(lockPathOf(await lockedFileOf(flags.queueFile))).then(() => true, () => false));
  const runs = await readRuns(journalDirOf(flags.queueFile));
  const alive = runs.filter((r) => r.alive);
  const interrupted = runs.filter((r) => !r.alive && r.open.length > 0);
  const failures = await lastFailures(flags.logDir ?? path.join(folder, '.pegasus', 'logs'));
  const slotsOf = await slotCounts(flags.hostsFile);
  // What the running runs say about themselves (job numbers, paused or held hosts); another user's runs do not answer (issue 14).
  const steer = await askRuns(controlDirOf(path.resolve(flags.queueFile)), { op: 'state' }).catch((): RunReply[] => []);

  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        queueFile: flags.queueFile,
        queued: entries ?? null,
        lock: locked ? { held: true, ...(owner ?? {}) } : { held: false },
        runs: runs.map((r) => ({ pid: r.pid, alive: r.alive, since: r.firstAt ?? null, finished: r.finished, open: r.open })),
        lastFailures: failures,
        steering: steer.filter((r) => r.reply.ok).map((r) => ({ pid: r.pid, ...r.reply, ok: undefined })),
      })}\n`,
    );
    return EXIT.ok;
  }

  const out: string[] = [];
  const queued = entries === undefined ? 'does not exist' : `${entries} entr${entries === 1 ? 'y' : 'ies'} queued`;
  out.push(`${flags.queueFile}: ${queued}`);
  if (owner) out.push(`  locked by pid ${owner.pid} (${owner.what}) since ${clock(owner.since)}`);
  else if (locked) out.push('  locked for a moment (a pegasus is taking or adding jobs)');
  for (const run of alive) {
    out.push(...describeRun(run, now, slotsOf));
    const reply = steer.find((r) => r.pid === run.pid)?.reply;
    if (reply?.ok) out.push(...steerLines(reply as unknown as SteerState));
  }
  if (alive.length === 0) out.push('no pegasus is running on this queue.');
  for (const run of interrupted) {
    out.push(`run pid ${run.pid} died with ${run.open.length} job${run.open.length === 1 ? '' : 's'} unfinished (in consumed.yaml; \`pegasus q --requeue-interrupted\` puts them back):`);
    for (const job of run.open) out.push(`  ${job.subnode ? `[${job.subnode}] ` : ''}${jobText(job.job)}`);
  }
  if (failures.length > 0) {
    out.push('last failures:');
    for (const f of failures) {
      const how = f.outcome === 'failed' ? `exit ${f.exit ?? '?'}` : f.signal ? `signal ${f.signal}` : f.outcome;
      out.push(`  ${clock(f.at)} [${f.subnode}] ${how} after ${(f.durationMs / 1000).toFixed(1)}s: ${oneLine(f.command)}`);
      out.push(`           log: ${path.relative(process.cwd(), f.log) || f.log}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}

function describeRun(run: RunRecord, now: number, slotsOf: ReadonlyMap<string, number>): string[] {
  const running = run.open.filter((j) => j.subnode !== undefined);
  const lines = [
    `run pid ${run.pid} (alive)${run.firstAt ? `, taking jobs since ${clock(run.firstAt)}` : ''}: ${running.length} running, ${run.finished} finished`,
  ];
  const bySubnode = new Map<string, typeof running>();
  for (const job of running) {
    const list = bySubnode.get(job.subnode as string) ?? [];
    list.push(job);
    bySubnode.set(job.subnode as string, list);
  }
  for (const [subnode, jobs] of bySubnode) {
    const total = slotsOf.get(subnode);
    if (total && total > 1) {
      const used = Array.from({ length: total }, () => false);
      for (const job of jobs) for (const i of job.slots ?? []) used[i] = true;
      lines.push(`  [${subnode}] ${slotBar(used)}`);
    }
    for (const job of jobs) {
      const attempt = job.attempt && job.attempt > 1 ? ` (attempt ${job.attempt})` : '';
      const slots = job.slots ? ` slots ${job.slots.join(',')}` : '';
      lines.push(`  [${subnode}] ${elapsed(now - (job.since ?? now))}${slots}  ${oneLine(jobText(job.job))}${attempt}`);
    }
  }
  return lines;
}

/** The newest failures, from the newest run folders' index files. */
async function lastFailures(logDir: string): Promise<LogIndexEntry[]> {
  const runs = (await readdir(logDir).catch(() => [] as string[])).sort().reverse();
  const found: LogIndexEntry[] = [];
  for (const run of runs) {
    const text = await readFile(path.join(logDir, run, 'index.jsonl'), 'utf8').catch(() => '');
    const entries = text
      .split('\n')
      .filter(Boolean)
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as LogIndexEntry];
        } catch {
          return [];
        }
      })
      .filter((e) => e.outcome !== 'ok' && e.outcome !== 'requeued');
    found.push(...entries.reverse());
    if (found.length >= LAST_FAILURES) break;
  }
  return found.slice(0, LAST_FAILURES);
}

/** Slots per sub-node label, from the hosts file when there is a readable one. */
async function slotCounts(hostsFile: string): Promise<Map<string, number>> {
  try {
    return new Map((await loadHosts(hostsFile)).map((s) => [s.label, s.slots]));
  } catch {
    return new Map();
  }
}

function jobText(job: string | Record<string, string>): string {
  if (typeof job === 'string') return job;
  const { command, ...params } = job;
  const rest = Object.entries(params).map(([k, v]) => `${k}=${v}`);
  return `${command ?? ''}${rest.length ? `   (${rest.join(', ')})` : ''}`;
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB');
}

/** A run's answer to the control endpoint's `state` request. */
interface SteerState {
  readonly mode?: 'queue' | 'broadcast';
  readonly jobs: readonly { readonly number: number; readonly subnode: string }[];
  readonly paused: boolean;
  readonly held: readonly string[];
  readonly drained?: readonly string[];
  readonly subnodes?: readonly { readonly label: string; readonly standing: string; readonly jobs: readonly number[] }[];
  /** `slots: auto` sub-nodes' GPUs, by label (issue 15). */
  readonly gpus?: Readonly<Record<string, readonly GpuView[]>>;
  readonly waiting?: { readonly job: number; readonly reason: string };
}

/** The run's taking state, each sub-node's (running job numbers for `pegasus kill`, idle, paused, draining, drained). */
function steerLines(state: SteerState): string[] {
  const lines = [`  ${state.paused ? 'paused: taking no jobs (pegasus resume)' : 'taking jobs'}`];
  for (const job of state.jobs) lines.push(`  job ${job.number} runs on [${job.subnode}]`);
  for (const s of state.subnodes ?? []) {
    const doing = s.jobs.length > 0 ? `running job ${s.jobs.join(', ')}` : 'idle';
    const standing = s.standing === 'taking' ? '' : `, ${s.standing}${s.standing === 'paused' && state.mode === 'broadcast' ? ' (holds the broadcast barrier)' : ''}`;
    lines.push(`  [${s.label}] ${doing}${standing}`);
    for (const gpu of gpuLines(state.gpus?.[s.label] ?? [])) lines.push(`    ${gpu}`);
  }
  if (state.waiting) lines.push(`  job ${state.waiting.job} waits: it ${state.waiting.reason}`);
  return lines;
}
