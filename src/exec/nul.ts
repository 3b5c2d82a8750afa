// A command holding a NUL character: no shell command can hold one (exec and SSH's remote exec cut it there), so the job fails with a message instead.
import type { ExecRequest, ExecResult } from './types.js';

/** The result of a job whose command holds a NUL, after saying why on its stderr; undefined for any other command. */
export function refuseNul(request: ExecRequest): ExecResult | undefined {
  if (!request.command.includes('\0')) return undefined;
  request.onLine('stderr', 'pegasus: the command contains a NUL character (\\0), which no shell command can hold; it was not run');
  return { exitCode: 127, signal: null, durationMs: 0, cancelled: false };
}
