// Running the built pegasus CLI as a real subprocess, the way a user would, and collecting what it printed.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './pids.js';

/** The CLI as shipped (the bundle in dist/bin, built from dist/src), next to this file's compiled location (dist/test/helpers). */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/pegasus.cjs');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Called with the child's PID as soon as it exists (tests register it for cleanup). */
  readonly onSpawn?: (pid: number) => void;
  /** Called with everything printed on stdout so far, after each chunk (to wait for a line). */
  readonly onStdout?: (soFar: string) => void;
  /** Run as this user instead of the test's (uid and gid; supplementary groups are dropped). */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** Another copy of the `pegasus` command to run instead of CLI (the launcher's tests damage a copy's code cache). */
  readonly cli?: string;
}

/** Runs `pegasus <args>` to completion with no stdin, as CI does. */
export function runPegasus(args: readonly string[], options: CliOptions & { readonly input?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.cli ?? CLI, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.user ?? {}),
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    if (child.pid !== undefined) {
      track(child, `pegasus ${args.join(' ')}`);
      options.onSpawn?.(child.pid);
    }
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onStdout?.(stdout);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A pegasus process started in the background, with ways to wait for what it prints. */
export interface RunningPegasus {
  readonly pid: number;
  /** Resolves with the first match of `pattern` in stdout (now or later). */
  stdout(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves with the first match of `pattern` in stderr (now or later). */
  stderr(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves once `predicate` holds for everything printed on stdout so far. */
  stdoutUntil(predicate: (text: string) => boolean): Promise<void>;
  /** Everything printed so far. */
  readonly output: () => { readonly stdout: string; readonly stderr: string };
  /** Resolves when the process has exited. */
  readonly exited: Promise<CliResult>;
}

/** Starts `pegasus <args>` and returns at once; the caller waits on what it prints (events, not sleeps). */
export function startPegasus(args: readonly string[], options: CliOptions & { readonly input?: string }): RunningPegasus {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(options.user ?? {}),
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  if (child.pid !== undefined) track(child, `pegasus ${args.join(' ')}`);
  const text = { stdout: '', stderr: '' };
  const waiters: { stream: 'stdout' | 'stderr'; pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const check = (): void => {
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(text[waiter.stream]);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.setEncoding('utf8').on('data', (chunk: string) => {
      text[stream] += chunk;
      check();
    });
  }
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const waiter of waiters) waiter.resolve(Object.assign([`<exited before ${String(waiter.pattern)} appeared>`], { index: -1, input: '' }) as RegExpExecArray);
      resolve({ code, signal, ...text });
    });
  });
  const wait = (stream: 'stdout' | 'stderr') => (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve) => {
      waiters.push({ stream, pattern, resolve });
      check();
    });
  const stdoutUntil = async (predicate: (text: string) => boolean): Promise<void> => {
    // A pattern that matches only when the predicate holds: checked on every chunk, like the others.
    const pattern = { exec: (input: string) => (predicate(input) ? Object.assign([input], { index: 0, input }) : null) } as unknown as RegExp;
    await wait('stdout')(pattern);
  };
  return { pid: child.pid ?? -1, stdout: wait('stdout'), stderr: wait('stderr'), stdoutUntil, output: () => ({ ...text }), exited };
}
