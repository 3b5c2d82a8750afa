// The queue file's text as a run starts (a daemon may start before the file exists).
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { danglingLink, locate } from './link.js';

/** The queue file's text; a missing file is an error unless the daemon may wait for it. */
export async function readQueueText(file: string, options: { readonly missingOk: boolean }): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (options.missingOk && (error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    const dangling = (await locate(file)).dangling;
    if (dangling !== undefined) throw danglingLink(file, dangling);
    throw new ConfigError(`Cannot read the queue file ${file}: ${(error as Error).message}.`, {
      place: { file },
      fix: 'Create it with one command per line, e.g. `- echo hello`, or point to it with --queue-file.',
      cause: error,
    });
  }
}
