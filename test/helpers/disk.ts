// Small real file systems for fault tests: a tmpfs mounted on a folder, filled up or made read-only, always unmounted by the test.
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Mounts a tmpfs of `sizeKiB` on `dir` (root only); the caller unmounts it with `unmount` in a finally. */
export async function mountTmpfs(dir: string, sizeKiB = 256): Promise<void> {
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755`, 'tmpfs', dir]);
}

/** Makes the file system on `dir` read-only (writes then fail with EROFS). */
export async function remountReadOnly(dir: string): Promise<void> {
  await run('mount', ['-o', 'remount,ro', dir]);
}

/** Fills the file system of `dir` with one file until a write fails with ENOSPC, so the next write needing space fails for real. */
export async function fillUp(dir: string): Promise<void> {
  const handle = await open(path.join(dir, 'filler'), 'w');
  const block = Buffer.alloc(4096, 0x78);
  try {
    for (;;) await handle.write(block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close();
  }
}

/** Unmounts what was mounted on `dir` (lazily if something still holds it, so the test's cleanup never hangs); a folder with nothing mounted is fine. */
export async function unmount(dir: string): Promise<void> {
  try {
    await run('umount', [dir]);
  } catch {
    await run('umount', ['-l', dir]).catch(() => undefined);
  }
}
