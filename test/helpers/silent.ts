// Making a fleet host silent: SIGSTOP on its sshd processes (TCP stays open, nothing answers), SIGCONT to thaw it.
import { readFile } from 'node:fs/promises';
import type { FleetHost } from './fleet.js';
import { descendantsOf, signalQuietly } from './procs.js';

/** A host whose sshd processes are stopped; `thaw` resumes them (call it in `finally`). Idempotent. */
export interface Frozen {
  readonly pids: readonly number[];
  thaw(): void;
}

/**
 * Stops a host's sshd listener and session processes, not the commands they run: the connections
 * stay open but nothing crosses them (no FIN, no RST), as when a network drops (DESIGN, SSH facts).
 */
export async function freezeSshd(host: FleetHost): Promise<Frozen> {
  const pids = [host.pid];
  for (const pid of await descendantsOf([host.pid])) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'sshd') pids.push(pid);
  }
  for (const pid of pids) signalQuietly(pid, 'SIGSTOP');
  let thawed = false;
  return {
    pids,
    thaw: () => {
      if (thawed) return;
      thawed = true;
      for (const pid of pids) signalQuietly(pid, 'SIGCONT');
    },
  };
}

/** Rejects with `what` once `signal` fires (a bound on how long a test waits for pegasus to act, not a timing assertion). */
export function within<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error(what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** A cleanup for `finally`: SIGKILLs a pegasus that a failed test left running (by its PID, only while it has not exited). */
export function killUnlessExited(pegasus: { readonly pid: number; readonly exited: Promise<unknown> }): () => void {
  let exited = false;
  void pegasus.exited.then(() => (exited = true));
  return () => {
    if (!exited && pegasus.pid > 1) signalQuietly(pegasus.pid, 'SIGKILL');
  };
}
