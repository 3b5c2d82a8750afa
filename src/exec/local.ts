// Running a command on this machine, in its own process group, killed as a tree when cancelled, timed out, or when pegasus dies.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { heartbeat } from './heartbeat.js';
import { LineSplitter } from './lines.js';
import { refuseNul } from './nul.js';
import { GRACE_S, LocalGuard, SH, signalGroup } from './local-guard.js';
import { LocalRunner, type RunnerHandle } from './local-runner.js';
import { pauseWhileBehind, watchStop, type ExecRequest, type ExecResult, type Executor } from './types.js';
import { WRAPPER } from './wrapper.js';

/** Where a job's process group is forgotten once nothing of it needs stopping. */
interface Registry {
  forget(pgid: number): void;
}

/**
 * TERM to a job's group, then KILL after the grace period if any of it is still there; only then
 * does its watcher (runner or guard) forget it. `pgid` may come later than a stop (the runner says it).
 */
class GroupStopper {
  pgid: number | undefined;
  private wanted = false;
  private killer: NodeJS.Timeout | undefined;
  private readonly registry: Registry;

  constructor(registry: Registry) {
    this.registry = registry;
  }

  known(pgid: number): void {
    this.pgid = pgid;
    if (this.wanted) this.stop();
  }

  stop(): void {
    this.wanted = true;
    if (this.pgid === undefined || this.killer) return;
    signalGroup(this.pgid, 'SIGTERM');
    this.killLater();
  }

  /** What is left of the group goes after the grace period. */
  private killLater(): void {
    const pgid = this.pgid;
    if (pgid === undefined || this.killer) return;
    this.killer = setTimeout(() => {
      signalGroup(pgid, 'SIGKILL');
      this.registry.forget(pgid);
    }, GRACE_S * 1000);
    this.killer.unref();
  }

  /** The leader ended: a leader that died of a signal gets the grace period, then the rest of its group is killed (as under the wrapper). */
  ended(code: number | null, signal: string | null): void {
    if (this.pgid === undefined) return;
    if (signal !== null || (code ?? 0) > 128) this.killLater();
    else if (!this.killer) this.registry.forget(this.pgid);
  }
}

/** Runs jobs as local subprocesses (sub-nodes on localhost, 127.0.0.1, ::1). */
export class LocalExecutor implements Executor {
  /**
   * The run's job runner (issue 17): a Perl process forks each job, so the main thread does not
   * fork all of pegasus per job (2–2.6 ms, blocking). Without perl, pegasus spawns jobs itself
   * under one guard, and without that, under the per-job wrapper.
   */
  private readonly runner = new LocalRunner();
  private readonly guard = new LocalGuard();

  /** Starts the job runner now, so the first job does not wait for it to boot. */
  prepare(): void {
    this.runner.prepare();
  }

  run(request: ExecRequest): Promise<ExecResult> {
    // exec would cut the command at a NUL, and Node's spawn throws on one: the job fails, the run goes on.
    const refused = refuseNul(request);
    if (refused) return Promise.resolve(refused);
    return this.runner.usable() ? this.viaRunner(request) : this.direct(request);
  }

  private viaRunner(request: ExecRequest): Promise<ExecResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      const out = new LineSplitter((line) => request.onLine('stdout', line));
      const err = new LineSplitter((line) => request.onLine('stderr', line));
      const group = new GroupStopper(this.runner);
      const detach = watchStop(request, () => group.stop());
      const finish = (exitCode: number | null, signal: string | null): void => {
        const { cancelled, timedOut } = detach();
        out.end();
        err.end();
        resolve({ exitCode, signal, durationMs: performance.now() - started, cancelled, timedOut });
      };
      let paused = false;
      // The runner's callbacks come from its output, after run() returned.
      const handle: RunnerHandle = this.runner.run(request.command, {
        started: (pgid) => group.known(pgid),
        output: (stream, chunk) => {
          (stream === 'stdout' ? out : err).push(chunk);
          const wait = paused ? undefined : request.backpressure?.();
          if (!wait) return;
          paused = true;
          handle.pause();
          void wait.then(() => {
            paused = false;
            handle.resume();
          });
        },
        exited: (code, signal) => {
          group.ended(code, signal);
          finish(code, signal);
        },
        failed: (message) => {
          group.stop(); // nothing watches it any more
          request.onLine('stderr', message);
          finish(127, null);
        },
        unavailable: () => {
          detach();
          resolve(this.direct(request));
        },
      });
    });
  }

  private direct(request: ExecRequest): Promise<ExecResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      const guarded = this.guard.ready();
      // `detached`: the job leads its own process group (a terminal's Ctrl-C does not reach it), which the guard
      // stops if pegasus dies. Without a guard, the per-job wrapper watches its stdin as on SSH hosts.
      const child = (
        guarded
          ? spawn(SH, ['-c', request.command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
          : spawn(SH, ['-c', WRAPPER, 'pegasus-job', request.command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
      ) as ChildProcessWithoutNullStreams;
      const group = new GroupStopper(this.guard);
      if (guarded && child.pid !== undefined) {
        this.guard.watch(child.pid);
        group.known(child.pid);
      }
      const out = new LineSplitter((line) => request.onLine('stdout', line));
      const err = new LineSplitter((line) => request.onLine('stderr', line));
      const streams = [child.stdout, child.stderr];
      child.stdout.on('data', (chunk: Buffer) => {
        out.push(chunk);
        pauseWhileBehind(request, streams);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err.push(chunk);
        pauseWhileBehind(request, streams);
      });
      let stop: () => void;
      let beat: { stop: () => void } | undefined;
      if (guarded) stop = () => group.stop();
      else {
        child.stdin?.on('error', () => undefined); // the wrapper may be gone already when we cancel
        const wrapperBeat = heartbeat(child.stdin);
        beat = wrapperBeat;
        stop = wrapperBeat.cancel;
      }
      const detach = watchStop(request, stop);
      let spawnError: Error | undefined;
      child.on('error', (error) => {
        spawnError = error;
      });
      child.on('close', (code, signal) => {
        const { cancelled, timedOut } = detach();
        beat?.stop();
        out.end();
        err.end();
        if (guarded) group.ended(code, signal);
        if (spawnError) request.onLine('stderr', `pegasus: cannot start sh: ${spawnError.message}`);
        resolve({ exitCode: spawnError ? 127 : code, signal: signal ?? null, durationMs: performance.now() - started, cancelled, timedOut });
      });
    });
  }
}
