// Running a command on this machine: through the job wrapper, in its own process group, killed as a tree when cancelled.
import { spawn } from 'node:child_process';
import { heartbeat } from './heartbeat.js';
import { LineSplitter } from './lines.js';
import { pauseWhileBehind, watchStop, type ExecRequest, type ExecResult, type Executor } from './types.js';
import { WRAPPER } from './wrapper.js';

/** Runs jobs as local subprocesses (sub-nodes on localhost, 127.0.0.1, ::1). */
export class LocalExecutor implements Executor {
  run(request: ExecRequest): Promise<ExecResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      // The same wrapper as remote jobs: the job gets its own process group (a terminal's Ctrl-C
      // does not reach it), and when this process dies its stdin closes and the job is stopped.
      const child = spawn('sh', ['-c', WRAPPER, 'pegasus-job', request.command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
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
      child.stdin.on('error', () => undefined); // the wrapper may be gone already when we cancel
      const beat = heartbeat(child.stdin);
      const detach = watchStop(request, beat.cancel);
      let spawnError: Error | undefined;
      child.on('error', (error) => {
        spawnError = error;
      });
      child.on('close', (code, signal) => {
        const { cancelled, timedOut } = detach();
        beat.stop();
        out.end();
        err.end();
        if (spawnError) request.onLine('stderr', `pegasus: cannot start sh: ${spawnError.message}`);
        resolve({ exitCode: spawnError ? 127 : code, signal: signal ?? null, durationMs: performance.now() - started, cancelled, timedOut });
      });
    });
  }
}
