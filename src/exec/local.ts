// Running a command on this machine, in its own process group, killed as a tree when cancelled, timed out, or when pegasus dies.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { heartbeat } from './heartbeat.js';
import { LineSplitter } from './lines.js';
import { GRACE_S, LocalGuard, SH, signalGroup } from './local-guard.js';
import { pauseWhileBehind, watchStop, type ExecRequest, type ExecResult, type Executor } from './types.js';
import { WRAPPER } from './wrapper.js';

/** Runs jobs as local subprocesses (sub-nodes on localhost, 127.0.0.1, ::1). */
export class LocalExecutor implements Executor {
  /** One watchdog for the run's local jobs (issue 17): a job is one `sh -c` process, not five. */
  private readonly guard = new LocalGuard();

  run(request: ExecRequest): Promise<ExecResult> {
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
      const pgid = child.pid;
      if (guarded && pgid !== undefined) this.guard.watch(pgid);
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
      let killer: NodeJS.Timeout | undefined;
      // What is left of the group goes after the grace period; only then does the guard forget it.
      const killLater = (): void => {
        if (pgid === undefined || killer) return;
        killer = setTimeout(() => {
          signalGroup(pgid, 'SIGKILL');
          this.guard.forget(pgid);
        }, GRACE_S * 1000);
        killer.unref();
      };
      if (guarded) {
        // TERM to the group, KILL after the grace period if any of it is still there.
        stop = () => {
          if (pgid === undefined || killer) return;
          signalGroup(pgid, 'SIGTERM');
          killLater();
        };
      } else {
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
        if (guarded && pgid !== undefined) {
          // A job whose leader died of a signal gets the grace period, then what is left of its group goes (as under the wrapper).
          if (signal !== null || (code ?? 0) > 128) killLater();
          else if (!killer) this.guard.forget(pgid);
        }
        if (spawnError) request.onLine('stderr', `pegasus: cannot start sh: ${spawnError.message}`);
        resolve({ exitCode: spawnError ? 127 : code, signal: signal ?? null, durationMs: performance.now() - started, cancelled, timedOut });
      });
    });
  }
}
