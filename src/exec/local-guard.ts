// One watchdog per run for local jobs (issue 17): each job runs directly in its own process group, and this guard stops the groups still registered when pegasus dies.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BatchedLines } from './batched-lines.js';

/** The shell local jobs run in, by its POSIX path: a bare `sh` is looked up along PATH on every spawn. */
export const SH = '/bin/sh';

/** A forgotten group is told to the guard at the latest this long after (sooner with the next job). */
const FORGET_MS = 100;

/** Between TERM and KILL, as for remote jobs. */
export const GRACE_S = 3;

/**
 * The guard, a POSIX sh: `+PGID` registers a job's process group, `-PGID` forgets it. When its stdin
 * ends (pegasus exited, or was killed: the kernel closes the pipe) it sends TERM to every group
 * still registered, then KILL after the grace period. It ignores INT and HUP, so a Ctrl-C or a
 * closed terminal reaches pegasus, which decides.
 */
const GUARD = [
  "trap '' INT HUP PIPE",
  'groups=',
  'while IFS= read -r line; do',
  '  case $line in',
  '    +*) groups="$groups ${line#+}" ;;',
  '    -*) g=${line#-}; keep=; for x in $groups; do [ "$x" = "$g" ] || keep="$keep $x"; done; groups=$keep ;;',
  '  esac',
  'done',
  '[ -n "$groups" ] || exit 0',
  'for g in $groups; do kill -TERM -"$g" 2>/dev/null; done',
  `sleep ${GRACE_S}`,
  'for g in $groups; do kill -KILL -"$g" 2>/dev/null; done',
].join('\n');

/** Sends `signal` to a process group; a group that is gone already is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

/** The run's local guard, started with the first local job. */
export class LocalGuard {
  private child: ChildProcessWithoutNullStreams | undefined;
  private failed = false;
  /** `-PGID` lines wait for the next registration. */
  private readonly lines = new BatchedLines((text) => {
    if (this.child && !this.failed) this.child.stdin.write(text);
  }, FORGET_MS);

  /** Whether the guard runs (started now if need be); without it a job must bring its own watcher (the wrapper). */
  ready(): boolean {
    return this.start() !== undefined;
  }

  /** Registers a job's process group. */
  watch(pgid: number): void {
    this.lines.now(`+${pgid}\n`);
  }

  /**
   * The job's group is done with. Said with the next registration (one write per job, issue 17), or
   * within FORGET_MS when none comes; until then the guard would only signal a group that is gone.
   */
  forget(pgid: number): void {
    if (this.child && !this.failed) this.lines.later(`-${pgid}\n`);
  }

  private start(): ChildProcessWithoutNullStreams | undefined {
    if (this.failed) return undefined;
    if (this.child) return this.child;
    const child = spawn(SH, ['-c', GUARD], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] }) as unknown as ChildProcessWithoutNullStreams;
    child.on('error', () => (this.failed = true));
    child.on('exit', () => (this.failed = true));
    child.stdin.on('error', () => (this.failed = true));
    // Neither the guard nor its pipe keeps pegasus alive; when pegasus exits the pipe closes and the guard ends too.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }
}
