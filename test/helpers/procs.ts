// Looking at processes from /proc: which are alive in a process group (zombies waiting to be reaped do not count).
import { readdir, readFile } from 'node:fs/promises';

/** PIDs of live (non-zombie) processes whose process group is `pgid`. */
export async function liveInGroup(pgid: number): Promise<number[]> {
  const live: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') live.push(Number(name));
    } catch {
      // it exited while we looked
    }
  }
  return live;
}
