// What an executor is: something that runs one command on one sub-node and returns the outcome as a value.
import type { TransportError } from '../errors.js';

/** Which stream a line came from. */
export type StreamName = 'stdout' | 'stderr';

/** One command to run. */
export interface ExecRequest {
  /** The exact text `sh -c` receives. */
  readonly command: string;
  /** Called with each whole line of output (without its line break). */
  readonly onLine: (stream: StreamName, line: string) => void;
  readonly signal?: AbortSignal;
  /** Stop the job (as a tree) after this long and report it as timed out. */
  readonly timeoutMs?: number;
  /**
   * Asked after each chunk of output: a promise means whoever shows or stores the lines is behind
   * (a slow terminal or disk), and reading stops until it resolves, so the job (or the remote
   * side's ssh window) waits instead of pegasus's memory growing.
   */
  readonly backpressure?: () => Promise<void> | undefined;
}

/** Pauses a job's output streams while the consumer is behind (see ExecRequest.backpressure). */
export function pauseWhileBehind(request: ExecRequest, streams: readonly NodeJS.ReadableStream[]): void {
  const wait = request.backpressure?.();
  if (!wait) return;
  for (const stream of streams) stream.pause();
  void wait.then(() => {
    for (const stream of streams) stream.resume();
  });
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
  /** Set by the run with `cancelled` when `pegasus kill` stopped the job (issue 14). */
  readonly killed?: boolean;
  /** It ran longer than its timeout and was stopped. */
  readonly timedOut?: boolean;
  /**
   * Set with `cancelled` or `timedOut`: the connection was lost before the host confirmed the job
   * stopped (a silent host, issue 13). Its guard or wrapper stops it there once it notices pegasus
   * is gone; pegasus cannot see that happen.
   */
  readonly stopUnconfirmed?: TransportError;
}

/** Runs commands on one sub-node. */
export interface Executor {
  run(request: ExecRequest): Promise<ExecResult>;
  /** After a lost connection: connects again if no connection is up; resolves with the reason when that fails (or `signal` gives up). */
  reconnect?(signal?: AbortSignal): Promise<TransportError | undefined>;
}

/** How a job ended, in a few words: "exit 3", "signal SIGKILL", "timed out", "cancelled", "lost connection". */
export function describeOutcome(result: ExecResult): string {
  if (result.transportError) return `lost connection (${result.transportError.message})`;
  if (result.timedOut) return 'timed out';
  if (result.killed) return 'killed';
  if (result.cancelled) return 'cancelled';
  if (result.signal) return `signal ${result.signal}`;
  return `exit ${result.exitCode ?? '?'}`;
}

/** True when a result is a success: exit status 0. */
export function succeeded(result: ExecResult): boolean {
  return result.exitCode === 0 && !result.transportError && !result.cancelled && !result.timedOut;
}

/**
 * Stops a job when the run cancels it or its timeout passes: `stop` ends the wrapper's stdin, and
 * the wrapper kills the job's tree. The returned function detaches, and tells which one happened.
 */
export function watchStop(request: ExecRequest, stop: () => void): () => { cancelled: boolean; timedOut: boolean } {
  let cancelled = false;
  let timedOut = false;
  const onAbort = (): void => {
    cancelled = true;
    stop();
  };
  request.signal?.addEventListener('abort', onAbort, { once: true });
  if (request.signal?.aborted) onAbort();
  const timer =
    request.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          stop();
        }, request.timeoutMs);
  return () => {
    request.signal?.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
    return { cancelled: cancelled && !timedOut, timedOut };
  };
}
