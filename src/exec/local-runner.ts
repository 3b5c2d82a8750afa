// The run's local job runner (issue 17): one small Perl process forks every local job and relays its output, so starting a job does not fork pegasus's whole Node process.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { constants } from 'node:os';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { BatchedLines } from './batched-lines.js';
import { GRACE_S } from './local-guard.js';
import { RUNNER_SCRIPT } from './local-runner-script.js';
import type { StreamName } from './types.js';

/** What the runner tells about one job. */
export interface RunnerJob {
  /** It started, as the leader of this process group. */
  started(pgid: number): void;
  output(stream: StreamName, chunk: Buffer): void;
  /** It exited and its output is closed. */
  exited(code: number | null, signal: NodeJS.Signals | null): void;
  /** The runner could not start it, or stopped while it ran (then it may have run in part). */
  failed(message: string): void;
  /** The runner never came up (no perl, say): nothing of the job ran, and it can go another way. */
  unavailable(): void;
}

/** Pauses and resumes reading one job's output. */
export interface RunnerHandle {
  pause(): void;
  resume(): void;
}

/** A forgotten group is told to the runner with the next job, or at the latest this long after. */
const FORGET_MS = 100;

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
const EMPTY = Buffer.alloc(0);
const [O, E, S, X, N, OK] = ['O', 'E', 'S', 'X', 'N', 'o'].map((c) => c.charCodeAt(0));

/** Its stdout is a pipe socket, which can be ref'd and unref'd. */
type RunnerProcess = ChildProcessByStdio<Writable, Socket, null>;

/** The runner, started with the first local job; `usable()` turns false for good once it is known not to work. */
export class LocalRunner {
  private child: RunnerProcess | undefined;
  private state: 'starting' | 'up' | 'down' = 'starting';
  private readonly jobs = new Map<number, RunnerJob>();
  private nextId = 1;
  private pending: Buffer = EMPTY;
  private readonly lines = new BatchedLines((text) => {
    if (this.child && this.state !== 'down') this.child.stdin.write(text);
  }, FORGET_MS);

  usable(): boolean {
    return this.state !== 'down';
  }

  /** Starts the runner ahead of its first job. */
  prepare(): void {
    if (this.state !== 'down') this.start();
  }

  /** Runs `command` with `/bin/sh -c` in a process group of its own. */
  run(command: string, job: RunnerJob): RunnerHandle {
    const child = this.start();
    const id = this.nextId++;
    this.jobs.set(id, job);
    if (this.jobs.size === 1) child.stdout.ref();
    this.lines.now(`R ${id} ${Buffer.byteLength(command)}\n${command}`);
    return { pause: () => this.lines.now(`P ${id}\n`), resume: () => this.lines.now(`U ${id}\n`) };
  }

  /** A finished job's group is done with: the runner no longer stops it when pegasus goes. */
  forget(pgid: number): void {
    if (this.state !== 'down') this.lines.later(`F ${pgid}\n`);
  }

  private start(): RunnerProcess {
    if (this.child) return this.child;
    const child = spawn('perl', ['-e', RUNNER_SCRIPT, String(GRACE_S)], { detached: true, stdio: ['pipe', 'pipe', 'ignore'] }) as unknown as RunnerProcess;
    this.child = child;
    child.on('error', (error) => this.down(error.message));
    // After 'close' every byte it wrote has been read, so a job it finished is not taken for lost.
    child.on('close', (code, signal) => this.down(signal ? `killed by ${signal}` : `exited with status ${code}`));
    child.stdin.on('error', () => undefined); // it is gone: 'close' says so
    child.stdout.on('data', (chunk: Buffer) => this.read(chunk));
    // Neither the runner nor its pipes keep pegasus alive; its stdout does while jobs run there.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.stdout.unref();
    return child;
  }

  private read(chunk: Buffer): void {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const nl = buf.indexOf(10, at);
      if (nl < 0) break;
      const kind = buf[at];
      if (kind === OK) {
        this.state = 'up';
        at = nl + 1;
        continue;
      }
      const line = buf.toString('latin1', at + 2, nl);
      const space = line.indexOf(' ');
      const id = Number(line.slice(0, space));
      const rest = line.slice(space + 1);
      if (kind === O || kind === E) {
        const size = Number(rest);
        if (buf.length < nl + 1 + size) break;
        this.jobs.get(id)?.output(kind === O ? 'stdout' : 'stderr', buf.subarray(nl + 1, nl + 1 + size));
        at = nl + 1 + size;
        continue;
      }
      at = nl + 1;
      const job = this.jobs.get(id);
      if (!job) continue;
      if (kind === S) job.started(Number(rest));
      else if (kind === X || kind === N) {
        this.jobs.delete(id);
        if (this.jobs.size === 0) this.child?.stdout.unref();
        if (kind === N) job.failed(`pegasus: ${rest}`);
        else {
          const status = Number(rest);
          const signal = status & 0x7f;
          job.exited(signal === 0 ? (status >> 8) & 0xff : null, signal === 0 ? null : (SIGNAL_NAMES.get(signal) ?? 'SIGKILL'));
        }
      }
    }
    this.pending = at < buf.length ? buf.subarray(at) : EMPTY;
  }

  private down(reason: string): void {
    if (this.state === 'down') return;
    const wasUp = this.state === 'up';
    this.state = 'down';
    this.lines.cancel();
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) {
      if (wasUp) job.failed(`pegasus: the local job runner (perl) stopped (${reason}); this job was stopped with it`);
      else job.unavailable();
    }
  }
}
