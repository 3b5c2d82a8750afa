// Running a command on this machine: `sh -c` in its own process group, killed as a tree when cancelled.
import { spawn } from 'node:child_process';
import { LineSplitter } from './lines.js';
import { type ExecRequest, type ExecResult, type Executor } from './types.js';

/** How long a cancelled job gets between TERM and KILL. */
const GRACE_MS = 2000;

/** Runs jobs as local subprocesses (sub-nodes on localhost, 127.0.0.1, ::1). */
export class LocalExecutor implements Executor {
  run(request: ExecRequest): Promise<ExecResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      // detached: the job gets its own process group, so a terminal's Ctrl-C does not reach it
      // directly and cancelling can kill the whole tree (DESIGN invariant 5).
      const child = spawn('sh', ['-c', request.command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const out = new LineSplitter((line) => request.onLine('stdout', line));
      const err = new LineSplitter((line) => request.onLine('stderr', line));
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      let cancelled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const killGroup = (signal: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, signal);
        } catch {
          // already gone
        }
      };
      const onAbort = (): void => {
        cancelled = true;
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), GRACE_MS);
        killTimer.unref();
      };
      request.signal?.addEventListener('abort', onAbort, { once: true });
      if (request.signal?.aborted) onAbort();
      let spawnError: Error | undefined;
      child.on('error', (error) => {
        spawnError = error;
      });
      child.on('close', (code, signal) => {
        request.signal?.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        out.end();
        err.end();
        if (spawnError) request.onLine('stderr', `pegasus: cannot start sh: ${spawnError.message}`);
        resolve({
          exitCode: spawnError ? 127 : code,
          signal: signal ?? null,
          durationMs: performance.now() - started,
          cancelled,
        });
      });
    });
  }
}
