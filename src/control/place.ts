// Where a run's control socket lives: `.pegasus/control/<pid>.sock` beside the queue, in a folder only its user can enter.
import path from 'node:path';

/** The control folder of a queue (mode 700). */
export function controlDirOf(queueFile: string): string {
  return path.join(path.dirname(queueFile), '.pegasus', 'control');
}

/** The socket of the run with this pid. */
export function socketOf(dir: string, pid: number): string {
  return path.join(dir, `${pid}.sock`);
}

/** The pid a socket's name says, or undefined for another file. */
export function pidOfSocket(name: string): number | undefined {
  const match = /^(\d+)\.sock$/.exec(name);
  return match ? Number(match[1]) : undefined;
}
