// Looking at processes from /proc: state, process groups, whole trees (zombies waiting to be reaped count as gone).
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

interface Stat {
  readonly pid: number;
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
}

function parseStat(pid: number, text: string): Stat {
  // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses
  const [state = '?', ppid, pgrp] = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state, ppid: Number(ppid), pgrp: Number(pgrp) };
}

async function allStats(): Promise<Stat[]> {
  const stats: Stat[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      stats.push(parseStat(Number(name), await readFile(`/proc/${name}/stat`, 'utf8')));
    } catch {
      // it exited while we looked
    }
  }
  return stats;
}

/** The one-letter state of `pid` (R, S, T, Z, …), or undefined when no such process exists. */
export function procState(pid: number): string | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8')).state;
  } catch {
    return undefined;
  }
}

/** PIDs of live (non-zombie) processes whose process group is `pgid`. */
export async function liveInGroup(pgid: number): Promise<number[]> {
  return (await allStats()).filter((s) => s.pgrp === pgid && s.state !== 'Z').map((s) => s.pid);
}

/** Every live process whose parent chain leads to one of `roots` (the roots themselves excluded). */
export async function descendantsOf(roots: readonly number[]): Promise<number[]> {
  const stats = (await allStats()).filter((s) => s.state !== 'Z');
  const found = new Set<number>();
  let frontier = new Set(roots);
  while (frontier.size > 0) {
    const next = new Set<number>();
    for (const s of stats) {
      if (frontier.has(s.ppid) && !found.has(s.pid)) next.add(s.pid);
    }
    for (const pid of next) found.add(pid);
    frontier = next;
  }
  return [...found];
}

/**
 * SIGSTOPs `root` and everything below it, rescanning until no new process shows up, and returns the
 * descendants: a stopped process cannot fork, so nothing escapes while the tree is being killed.
 */
export async function freezeTree(root: number): Promise<number[]> {
  if (!(root > 1)) throw new Error(`freezeTree: refusing pid ${root}`);
  const frozen = new Set<number>();
  signalQuietly(root, 'SIGSTOP');
  for (;;) {
    const fresh = (await descendantsOf([root])).filter((pid) => !frozen.has(pid));
    if (fresh.length === 0) return [...frozen];
    for (const pid of fresh) {
      signalQuietly(pid, 'SIGSTOP');
      frozen.add(pid);
    }
  }
}

/**
 * Resolves once none of `pids` is alive (gone, or a zombie). It polls /proc because Node has no pidfd:
 * a process that is not our own child emits no event when it dies. Rejects, naming them, on `signal`.
 */
export async function waitGone(pids: readonly number[], signal: AbortSignal): Promise<void> {
  await waitUntilNone(async () => pids.filter((pid) => ![undefined, 'Z'].includes(procState(pid))), 'processes still alive', signal);
}

/** Polls `live` until it returns no PID; rejects on `signal`, naming what was still alive. */
async function waitUntilNone(live: () => Promise<number[]>, what: string, signal: AbortSignal): Promise<void> {
  let left = await live();
  while (left.length > 0) {
    try {
      await delay(10, undefined, { signal });
    } catch (error) {
      throw new Error(`${what}: ${left.join(', ')}`, { cause: error });
    }
    left = await live();
  }
}

/** process.kill that ignores ESRCH (the process already left); other errors still throw. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Resolves once no live process is left in process group `pgid` (polling /proc, as waitGone does); rejects on `signal`. */
export async function waitGroupGone(pgid: number, signal: AbortSignal): Promise<void> {
  await waitUntilNone(() => liveInGroup(pgid), `process group ${pgid} still has live processes`, signal);
}

/** PIDs of live processes whose command line contains `text` (other than this one). */
export async function liveMatching(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      if (cmdline.includes(text) && procState(Number(name)) !== 'Z') found.push(Number(name));
    } catch {
      // it exited while we looked
    }
  }
  return found;
}

/** Resolves once no live process's command line contains `text` (polling /proc); rejects on `signal`. */
export async function waitNoneMatching(text: string, signal: AbortSignal): Promise<void> {
  await waitUntilNone(() => liveMatching(text), 'processes still alive', signal);
}
