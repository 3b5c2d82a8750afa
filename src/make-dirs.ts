// Making folders (mkdir -p) so that a failure gives its real reason: Node's recursive mkdir says ENOENT on a read-only file system.
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** Makes `dir` and its missing parents; the error of a failure is the one of the folder that could not be made (EROFS, EACCES, ENOSPC). */
export async function makeDirs(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw error;
    await makeDirs(path.dirname(dir));
    await mkdir(dir).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

/** `makeDirs`, synchronously (once per run, where a job's first event needs the folder at once). */
export function makeDirsSync(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw error;
    makeDirsSync(path.dirname(dir));
    try {
      mkdirSync(dir);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}
