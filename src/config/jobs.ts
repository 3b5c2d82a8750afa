// queue.yaml entries: reading one, expanding it into jobs, checking it against the sub-nodes, and its canonical text.
import { Document, isMap, isScalar, isSeq, type Node } from 'yaml';
import { ConfigError, formatPlace, type Place } from '../errors.js';
import { parseDuration } from './duration.js';
import { type SubNode } from './hosts.js';
import { bindingObject, cartesian, readParams, type Binding, type EntryContext, type Param } from './params.js';
import { render } from './template.js';
import { excerptAt, kindOf, parseYaml, placeOf, scalarText, type YamlSource } from './yaml.js';

/** One item of queue.yaml as the user wrote it. */
export interface Entry {
  readonly commands: readonly string[];
  /** Parameters other than `command` and the reserved keys, in file order. */
  readonly params: readonly Param[];
  /** The entry's `timeout` (a duration such as `90m`), a reserved key rather than a parameter. */
  readonly timeout?: string;
  readonly place: Place;
}

/** One expansion of an entry: a command template plus one value per parameter. */
export interface Job {
  readonly command: string;
  readonly params: Binding;
  readonly timeout?: string;
  /** Where the entry it came from was. */
  readonly place: Place;
}

/** Keys of an entry that configure how its jobs run instead of feeding the template. */
const RESERVED = new Set(['timeout']);

/** Reads one queue entry node (a string, or a map with `command`). */
export function readEntry(node: unknown, source: YamlSource): Entry {
  const context: EntryContext = { source, what: 'queue entry' };
  const place = placeOf(source, isMap(node) || isScalar(node) || isSeq(node) ? node : undefined);
  const text = scalarText(node);
  if (text !== undefined && node !== null) {
    if (text.trim() === '') throw new ConfigError('A queue entry is an empty command.', { place, fix: 'Write the command, or delete the entry.' });
    return { commands: [text], params: [], place };
  }
  if (!isMap(node)) {
    throw new ConfigError(`A queue entry is ${kindOf(node)}; it must be a command or a map with \`command\`.`, {
      place,
      ...(isSeq(node) && node.range ? { excerpt: excerptAt(source, node.range[0]) } : {}),
      fix: 'Write `- echo hello`, or `- command: train --lr {{lr}}` with parameter lists beside it.',
    });
  }
  const all = readParams(node, context);
  const command = all.find((p) => p.key === 'command');
  if (!command) {
    throw new ConfigError(
      `A queue entry has no \`command\` key (it has ${all.map((p) => `\`${p.key}\``).join(', ') || 'no keys'}).`,
      {
        place,
        excerpt: excerptAt(source, (node as Node).range?.[0] ?? 0),
        fix: 'Add `command: <the command, or a list of commands>` to the entry. The entry stays in the queue until you fix it.',
      },
    );
  }
  const timeout = all.find((p) => p.key === 'timeout');
  if (timeout && (timeout.values.length !== 1 || parseDuration(timeout.values[0] ?? '') === undefined)) {
    throw new ConfigError(`A queue entry's \`timeout\` is \`${timeout.values.join(', ')}\`, which is not one duration.`, {
      place: timeout.place,
      fix: 'Write a single duration such as `timeout: 90m`, `30s` or `1h30m`.',
    });
  }
  const params = all.filter((p) => p.key !== 'command' && !RESERVED.has(p.key));
  return { commands: command.values, params, ...(timeout ? { timeout: timeout.values[0] as string } : {}), place };
}

/** Parses a whole queue text into entries (for --dry-run and checks; popping reads only the head). */
export function parseQueue(text: string, file: string): Entry[] {
  const source = parseYaml(text, file);
  const root = source.doc.contents;
  if (root === null || (isScalar(root) && scalarText(root) === '')) return [];
  if (!isSeq(root)) {
    throw new ConfigError(`The queue file ${file} must be a list, but its top level is ${kindOf(root)}.`, {
      place: placeOf(source, root),
      fix: 'Write one entry per item, each starting with `- `.',
    });
  }
  return root.items.map((item) => readEntry(item, source));
}

/** Expands an entry into jobs: `command` outermost, then the keys in file order, the last fastest. */
export function expandEntry(entry: Entry): Job[] {
  const jobs: Job[] = [];
  const bindings = cartesian(entry.params);
  for (const command of entry.commands) {
    for (const params of bindings) jobs.push({ command, params, ...(entry.timeout ? { timeout: entry.timeout } : {}), place: entry.place });
  }
  return jobs;
}

/**
 * Checks that every job of an entry can run on every sub-node: no parameter defined both in the
 * entry and on a host, and every template renders. Throws the first problem as a ConfigError.
 */
export function checkEntry(entry: Entry, subnodes: readonly SubNode[]): void {
  checkCollisions(entry, subnodes);
  for (const job of expandEntry(entry)) {
    for (const subnode of subnodes) renderJob(job, subnode);
  }
}

/** Checks that no parameter of the entry is also a parameter of a host (cheap: no rendering). */
export function checkCollisions(entry: Entry, subnodes: readonly SubNode[]): void {
  for (const subnode of subnodes) {
    for (const param of entry.params) {
      if (subnode.params.some(([key]) => key === param.key)) {
        throw new ConfigError(
          `The parameter \`${param.key}\` is defined both in a queue entry and on host ${subnode.label} (${formatPlace(subnode.place)}).`,
          { place: param.place, fix: `Rename one of them; a command sees host and entry parameters together.` },
        );
      }
    }
  }
}

/** The command a job runs on a sub-node: its template rendered with host and job parameters. */
export function renderJob(job: Job, subnode: SubNode): string {
  const values = bindingObject([...subnode.params, ...job.params]);
  return render(job.command, values, { field: 'command', place: job.place, subnode: subnode.label });
}

/** A job's canonical form: a plain string without parameters, else a map of `command` and each value. */
export function canonicalValue(job: Job): string | Record<string, string> {
  if (job.params.length === 0 && !job.timeout) return job.command;
  return bindingObject([['command', job.command], ...job.params, ...(job.timeout ? ([['timeout', job.timeout]] as const) : [])]);
}

/**
 * Jobs as YAML list items in canonical form, one item each, ready to append to consumed.yaml or to
 * write back at the head of the queue. Values are written so that they read back the same.
 */
export function canonicalText(jobs: readonly Job[]): string {
  if (jobs.length === 0) return '';
  const doc = new Document(jobs.map(canonicalValue), { schema: 'failsafe' });
  return doc.toString({ lineWidth: 0, minContentWidth: 0 });
}
