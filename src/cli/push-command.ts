// `pegasus push`: add entries to the queue under its lock, without an editor (for scripts).
import { readFile } from 'node:fs/promises';
import { ConfigError, FileError } from '../errors.js';
import { itemsFromCommand, itemsFromText } from '../queue/push.js';
import { QueueStore, queueFilesOf } from '../queue/store.js';
import { plainPrinter } from '../ui/plain.js';
import { EXIT } from './exit.js';
import { entryChecker } from './validate.js';

export interface PushFlags {
  readonly queueFile: string;
  readonly hostsFile: string;
  /** A YAML file of entries; `-` reads stdin. */
  readonly file?: string;
  readonly front: boolean;
}

/** Validates what is pushed, then adds it at the end (or the head) of the queue; returns the exit code. */
export async function pushEntries(commands: readonly string[], flags: PushFlags): Promise<number> {
  const check = await entryChecker(flags.hostsFile);
  let text: string;
  let source: string;
  if (commands.length > 0) {
    if (flags.file) throw new ConfigError('Give either commands or --file, not both.', { fix: "pegasus push 'cmd'  or  pegasus push --file more.yaml" });
    text = commands.map(itemsFromCommand).join('');
    source = '<command line>';
  } else {
    const fromStdin = flags.file === undefined || flags.file === '-';
    if (fromStdin && process.stdin.isTTY) {
      throw new ConfigError('Nothing to push.', { fix: "Give a command (pegasus push 'python train.py'), --file more.yaml, or pipe YAML entries on stdin." });
    }
    source = fromStdin ? '<stdin>' : (flags.file as string);
    text = fromStdin ? await readStdin() : await readSource(source);
  }
  // One validation for both: entries parsed and checked (templates too) before anything is written.
  const { items, count } = itemsFromText(text, source, check);
  const print = plainPrinter({ out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) }, { printPeriod: 1 });
  const store = new QueueStore(queueFilesOf(flags.queueFile), {
    check: () => undefined,
    onLockNotice: (notice) => print({ type: 'lock-notice', notice }),
  });
  await store.add(items, { front: flags.front }).catch((error: unknown) => {
    throw error instanceof FileError ? error.withNote('Nothing was pushed.') : error;
  });
  process.stderr.write(`pegasus: pushed ${count} entr${count === 1 ? 'y' : 'ies'} to the ${flags.front ? 'head' : 'end'} of ${flags.queueFile}.\n`);
  return EXIT.ok;
}

async function readSource(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read ${file}: ${(error as Error).message}.`, { place: { file }, cause: error });
  }
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}
