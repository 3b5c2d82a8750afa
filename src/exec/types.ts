// What an executor is: something that runs one command on one sub-node and returns the outcome as a value.
import { type TransportError } from '../errors.js';

/** Which stream a line came from. */
export type StreamName = 'stdout' | 'stderr';

/** One command to run. */
export interface ExecRequest {
  /** The exact text `sh -c` receives. */
  readonly command: string;
  /** Called with each whole line of output (without its line break). */
  readonly onLine: (stream: StreamName, line: string) => void;
  readonly signal?: AbortSignal;
}

/** How a command ended. Exactly one of exitCode, signal or transportError tells the story. */
export interface ExecResult {
  /** The shell's exit status, when it exited. */
  readonly exitCode: number | null;
  /** The signal that ended it, when one did (e.g. "SIGTERM"). */
  readonly signal: string | null;
  readonly durationMs: number;
  /** The connection failed before the command finished (DESIGN: transport vs job failure). */
  readonly transportError?: TransportError;
  /** The run's signal asked it to stop. */
  readonly cancelled: boolean;
}

/** Runs commands on one sub-node. */
export interface Executor {
  run(request: ExecRequest): Promise<ExecResult>;
}

/** True when a result is a success: exit status 0. */
export function succeeded(result: ExecResult): boolean {
  return result.exitCode === 0 && !result.transportError && !result.cancelled;
}
