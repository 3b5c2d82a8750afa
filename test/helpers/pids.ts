// The registry of processes a test started: each recorded by PID, stopped TERM-then-KILL, and checked gone at the end.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { liveInGroup, procState, signalQuietly } from './procs.js';

interface Tracked {
  readonly pid: number;
  readonly label: string;
  /** Spawned `detached`, so it leads its own process group and the whole group is signalled. */
  readonly group: boolean;
  readonly child: ChildProcess;
}

const registry = new Map<number, Tracked>();

// Last resort if a test forgot its cleanup, or the runner stopped a test file that timed out:
// nothing the suite started outlives the test file's process.
function killLeftovers(): void {
  for (const t of registry.values()) {
    if (!hasExited(t.child)) signalQuietly(t.group ? -t.pid : t.pid, 'SIGKILL');
  }
}
process.on('exit', killLeftovers);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killLeftovers();
    process.kill(process.pid, signal); // then die of it, as without this handler
  });
}

/** Records a spawned child by PID and returns the PID; `group: true` for children spawned with `detached: true`. */
export function track(child: ChildProcess, label: string, options: { readonly group?: boolean } = {}): number {
  if (child.pid === undefined) throw new Error(`${label}: the process did not start (no PID)`);
  registry.set(child.pid, { pid: child.pid, label, group: options.group ?? false, child });
  return child.pid;
}

/** True while `pid` exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = procState(pid);
  return state !== undefined && state !== 'Z';
}

/** True once Node has reaped the child and emitted (or is emitting) its 'exit' event. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export interface StopOptions {
  /** Signal the child's whole process group (it was spawned `detached`). */
  readonly group?: boolean;
  /** First signal; SIGTERM unless told. */
  readonly signal?: NodeJS.Signals;
  /** How long the first signal gets before SIGKILL. */
  readonly graceMs?: number;
}

/** Stops one child: `signal`, then SIGKILL if no 'exit' came within the grace; resolves on its 'exit' event. */
export async function stopChild(child: ChildProcess, options: StopOptions = {}): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const target = options.group ? -pid : pid;
  if (!hasExited(child)) {
    const exit = once(child, 'exit').then(() => 'exit' as const);
    signalQuietly(target, options.signal ?? 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => (timer = setTimeout(resolve, options.graceMs ?? 2000, 'grace')));
    if ((await Promise.race([exit, grace])) === 'grace') {
      signalQuietly(target, 'SIGKILL');
      await exit;
    }
    clearTimeout(timer);
  }
  // The leader is gone; members of its group that ignored the first signal are not.
  if (options.group) signalQuietly(target, 'SIGKILL');
}

/** Stops every tracked process that is still running, all at once, each as stopChild does. */
export async function killTracked(signal: NodeJS.Signals = 'SIGTERM', graceMs = 2000): Promise<void> {
  await Promise.all([...registry.values()].map((t) => stopChild(t.child, { group: t.group, signal, graceMs })));
}

/** Throws, naming each one, if any tracked process (or a member of a tracked group) is still alive. */
export async function assertAllGone(): Promise<void> {
  const alive: string[] = [];
  for (const t of registry.values()) {
    if (!hasExited(t.child) && isAlive(t.pid)) alive.push(`${t.label} (pid ${t.pid})`);
    if (t.group) {
      for (const pid of await liveInGroup(t.pid)) if (pid !== t.pid) alive.push(`${t.label}: group member pid ${pid}`);
    }
  }
  if (alive.length > 0) throw new Error(`processes left running: ${alive.join('; ')}`);
}
