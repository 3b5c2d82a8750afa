// `pegasus l`: edit the queue under its lock, validated before the lock is released.
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline/promises';
import { parseQueue } from '../config/jobs.js';
import { ConfigError } from '../errors.js';
import { editQueue, type RepairChoice } from '../queue/edit.js';
import { plainPrinter } from '../ui/plain.js';
import { EXIT } from './exit.js';
import { entryChecker } from './validate.js';

export interface LockFlags {
  readonly queueFile: string;
  readonly hostsFile: string;
  readonly editor?: string;
}

/** Locks the queue, opens it in the editor, and releases the lock once it is valid (or restored). */
export async function lockMode(flags: LockFlags): Promise<number> {
  const editor = chooseEditor(flags.editor);
  const check = await entryChecker(flags.hostsFile);
  const print = plainPrinter({ out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) }, { printPeriod: 1 });
  const outcome = await editQueue({
    file: flags.queueFile,
    editor,
    onLocked: (file) => {
      const where = file === flags.queueFile ? '' : ` (${file}, where the link points)`;
      process.stderr.write(`pegasus: ${flags.queueFile} is locked; opening it${where} with ${editor}. Running pegasus processes wait until you save and quit.\n`);
    },
    validate: (text) => {
      try {
        parseQueue(text, flags.queueFile).forEach(check);
        return undefined;
      } catch (error) {
        if (error instanceof ConfigError) return error;
        throw error;
      }
    },
    choose: askRepair,
    onLockNotice: (notice) => print({ type: 'lock-notice', notice }),
  });
  if (outcome.restored) {
    process.stderr.write(`pegasus: the previous content of ${flags.queueFile} was restored; the lock is released.\n`);
    return EXIT.usage;
  }
  process.stderr.write(`pegasus: ${flags.queueFile} ${outcome.changed ? 'saved' : 'unchanged'}; the lock is released.\n`);
  return EXIT.ok;
}

/** --editor, then $VISUAL, then $EDITOR, then vim if installed, then vi. */
export function chooseEditor(flag: string | undefined): string {
  for (const candidate of [flag, process.env.VISUAL, process.env.EDITOR]) {
    if (candidate && candidate.trim() !== '') return candidate;
  }
  try {
    execFileSync('sh', ['-c', 'command -v vim'], { stdio: 'ignore' });
    return 'vim';
  } catch {
    return 'vi';
  }
}

/** Asks on the terminal whether to edit again or restore; without an answer (no stdin) the previous content is restored. */
async function askRepair(problem: ConfigError): Promise<RepairChoice> {
  process.stderr.write(`pegasus: the edited queue is not valid, so the lock is still held:\n${problem.describe()}\n`);
  const lines = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  try {
    for (;;) {
      const answer = await Promise.race([
        lines.question('[e]dit again or [r]estore the previous content? '),
        new Promise<null>((resolve) => lines.once('close', () => resolve(null))),
      ]);
      if (answer === null) {
        process.stderr.write('\n(no answer on stdin)\n');
        return 'restore';
      }
      const first = answer.trim().toLowerCase()[0];
      if (first === 'e') return 'edit';
      if (first === 'r') return 'restore';
    }
  } finally {
    lines.close();
  }
}
