// Where a queue file's bytes really are: symlinks followed each time the file is locked or written, and a dangling link named.
import { lstat, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** Where a path leads: the file to read, lock and replace, and the missing target when it is a dangling symlink. */
export interface Located {
  /** The real path when the file exists (symlinks followed); otherwise the path as given. */
  readonly path: string;
  /** Set when the path is a symlink whose target does not exist: what the link says. */
  readonly dangling?: string;
}

/**
 * Resolves `file` now, not once per run, so a link retargeted between runs (or edits) is followed
 * (issue 13: a rename over the link replaced it with a plain file and left the entries in its target).
 * A path that involves no link is returned as the user wrote it, so messages keep naming it that way.
 */
export async function locate(file: string): Promise<Located> {
  try {
    const real = await realpath(file);
    return { path: real === path.resolve(file) ? file : real };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw new ConfigError(`${file} is a symbolic link that leads back to itself.`, {
        place: { file },
        fix: `Point it at your queue file (ln -sfn <path> ${file}), then run pegasus again.`,
      });
    }
    if (code !== 'ENOENT') throw error;
  }
  const link = await lstat(file).catch(() => undefined);
  if (link?.isSymbolicLink()) return { path: file, dangling: await readlink(file) };
  return { path: file };
}

/** The real path of a file pegasus is about to write in place of the old one; a dangling link is a ConfigError. */
export async function writablePath(file: string): Promise<string> {
  const located = await locate(file);
  if (located.dangling !== undefined) throw danglingLink(file, located.dangling);
  return located.path;
}

/** The error for a symlink that points nowhere. */
export function danglingLink(file: string, target: string): ConfigError {
  return new ConfigError(`${file} is a symbolic link to ${target}, which does not exist.`, {
    place: { file },
    fix: `Create ${target}, or point the link at your queue file (ln -sfn <path> ${file}), then run pegasus again.`,
  });
}
