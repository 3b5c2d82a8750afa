// Temporary folders for tests: made under os.tmpdir() with an absolute path, and removed only from there.
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Makes a fresh folder `<tmpdir>/<prefix>XXXXXX` and returns its absolute, symlink-free path. */
export async function makeTmpDir(prefix: string): Promise<string> {
  return realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
}

/** Removes a folder made by makeTmpDir, with everything in it; a missing folder is fine. */
export async function removeTmpDir(dir: string): Promise<void> {
  // A guard against a wrong variable turning cleanup into `rm -rf` somewhere that matters.
  const root = await realpath(os.tmpdir());
  if (path.dirname(path.resolve(dir)) !== root) throw new Error(`refusing to remove ${dir}: not a folder directly under ${root}`);
  await rm(dir, { recursive: true, force: true });
}
