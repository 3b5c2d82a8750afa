// What `pegasus push` adds: a command given on the command line, or YAML list text from a file or stdin, validated first.
import { Document, parseDocument } from 'yaml';
import { canonicalText, parseQueue, type Entry } from '../config/jobs.js';
import { splitBom } from '../config/yaml.js';
import { ConfigError } from '../errors.js';
import { scanHead } from './head.js';

/** List-item text for one command, quoted as YAML needs so that it reads back exactly. */
export function itemsFromCommand(command: string): string {
  if (command.trim() === '') throw new ConfigError('The command to push is empty.', { fix: "Give the command in quotes: pegasus push 'python train.py'." });
  return canonicalText([{ command, params: [], place: { file: '<command line>' } }]);
}

/**
 * List-item text for YAML read from a file or stdin. Every entry is checked first (`check` may add
 * template checks); nothing is added when one is bad. The text is kept as written (comments too)
 * when it is a plain block list, and rewritten as one otherwise.
 */
export function itemsFromText(written: string, source: string, check: (entry: Entry) => void): { readonly items: string; readonly count: number } {
  // A byte order mark belongs at the start of a file, never in the middle of the queue it is added to.
  const text = splitBom(written).body;
  const entries = parseQueue(text, source);
  if (entries.length === 0) {
    throw new ConfigError(`${source} holds no entries to push.`, { place: { file: source }, fix: 'Write one entry per line, each starting with `- `.' });
  }
  entries.forEach(check);
  const scan = scanHead(text);
  const count = entries.length;
  if (scan.kind === 'head' && !/^[ \t]/.test(scan.split.head)) return { items: text.endsWith('\n') ? text : `${text}\n`, count };
  // A flow list or an indented one: write the same entries as a plain block list.
  const list = parseDocument(text, { schema: 'failsafe' }).toJS() as unknown[];
  return { items: new Document(list, { schema: 'failsafe' }).toString({ lineWidth: 0 }), count };
}
