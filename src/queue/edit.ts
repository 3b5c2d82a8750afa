// Lock mode: edit the queue file in an editor while holding the queue lock, and validate it before letting go (visudo style).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileErrorOf, type ConfigError } from '../errors.js';
import { withQueueLock, type LockNotice } from './lock.js';
import { replaceAtomically } from './durable.js';
import { writablePath } from './link.js';

/** What to do with a queue file that no longer validates. */
export type RepairChoice = 'edit' | 'restore';

export interface EditOptions {
  readonly file: string;
  /** A shell command line naming the editor, arguments allowed ("code -w"); the file is appended. */
  readonly editor: string;
  /** The problem with the edited text, or undefined when it is a valid queue. */
  readonly validate: (text: string) => ConfigError | undefined;
  /** Asked when the edited file is invalid. */
  readonly choose: (problem: ConfigError) => Promise<RepairChoice>;
  readonly onLockNotice?: (notice: LockNotice) => void;
  /** Called once the lock is held, before the editor starts, with the file it will open. */
  readonly onLocked?: (file: string) => void;
}

/** How an edit ended. */
export interface EditOutcome {
  readonly changed: boolean;
  /** The edit was invalid and the previous content was put back. */
  readonly restored: boolean;
  /** The editor's exit status, the last time it ran. */
  readonly editorStatus: number | null;
}

/**
 * Holds the queue lock while the user edits: the editor runs as an async child with the terminal
 * handed over, so the lock keeps being refreshed however long the edit takes (issue 4). The lock is
 * released only once the file is valid again or its previous content is restored.
 * A symlinked queue is edited at its target: the editor is given the real path, so one that saves
 * by renaming a new file over what it was given replaces the target and the link stays (issue 13).
 */
export async function editQueue(options: EditOptions): Promise<EditOutcome> {
  await writablePath(options.file); // a dangling link is reported before the lock is taken
  return withQueueLock(
    options.file,
    async (file) => {
      const original = await readFile(file, 'utf8').catch(() => undefined);
      options.onLocked?.(file);
      for (;;) {
        const editorStatus = await runEditor(options.editor, file);
        const text = await readFile(file, 'utf8').catch(() => '');
        const problem = options.validate(text);
        if (!problem) return { changed: text !== (original ?? ''), restored: false, editorStatus };
        if ((await options.choose(problem)) === 'edit') continue;
        await replaceAtomically(file, original ?? '').catch((error: unknown) => {
          const fault = fileErrorOf(error, file);
          throw fault ? fault.withNote(`The edited queue, which is not valid, is still in ${file}: its previous content could not be put back.`) : error;
        });
        return { changed: false, restored: true, editorStatus };
      }
    },
    { owner: 'pegasus l, editing the queue', ...(options.onLockNotice ? { onNotice: options.onLockNotice } : {}) },
  );
}

/** Runs the editor on a file with the terminal inherited; resolves with its exit status. */
function runEditor(editor: string, file: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    // Through sh, like git does, so that "code -w" or "emacs -nw" work; the file is passed as $1.
    const child = spawn('sh', ['-c', `${editor} "$1"`, 'pegasus-editor', file], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
}
