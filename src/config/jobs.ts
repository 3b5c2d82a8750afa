// queue.yaml entries: reading one, expanding it into jobs, checking it against the sub-nodes, and its canonical text.
import { Document, isMap, isScalar, isSeq, type Node } from 'yaml';
import { ConfigError, formatPlace, type Place } from '../errors.js';
import { parseDuration } from './duration.js';
import { gpusOfSlots, type SubNode } from './hosts.js';
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
  /** `slots`: how many slots of one sub-node each job needs (a list sweeps like a parameter); reserved. */
  readonly slots?: Param;
  /** `allocation_policy`: how the slots are chosen (default first_fit); reserved. */
  readonly allocationPolicy?: AllocationPolicy;
  readonly place: Place;
}

/** How a job's slots are chosen on a sub-node (issue 8). */
export type AllocationPolicy = 'first_fit' | 'buddy';
const POLICIES: readonly string[] = ['first_fit', 'buddy'];

/** True for 1, 2, 4, 8, … (the block sizes the buddy policy gives). */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** One expansion of an entry: a command template plus one value per parameter. */
export interface Job {
  readonly command: string;
  readonly params: Binding;
  readonly timeout?: string;
  /** Slots it needs on one sub-node (default 1). */
  readonly slots?: number;
  readonly allocationPolicy?: AllocationPolicy;
  /** Where the entry it came from was. */
  readonly place: Place;
}

/** Keys of an entry that configure how its jobs run instead of feeding the template. */
const RESERVED = new Set(['timeout', 'slots', 'allocation_policy']);

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
  const slots = all.find((p) => p.key === 'slots');
  const bad = slots?.values.find((v) => !/^[1-9]\d*$/.test(v));
  if (slots && (bad !== undefined || slots.values.length === 0)) {
    throw new ConfigError(`A queue entry's \`slots\` is \`${bad ?? ''}\`, which is not a whole number of slots.`, {
      place: slots.place,
      fix: 'Write how many slots of one sub-node each job needs, e.g. `slots: 2`, or a list to sweep, e.g. `slots: [1, 2, 4]`.',
    });
  }
  const policy = all.find((p) => p.key === 'allocation_policy');
  if (policy && (policy.values.length !== 1 || !POLICIES.includes(policy.values[0] ?? ''))) {
    throw new ConfigError(`A queue entry's \`allocation_policy\` is \`${policy.values.join(', ')}\`.`, {
      place: policy.place,
      fix: 'Write `allocation_policy: first_fit` (the default: contiguous blocks when it can) or `allocation_policy: buddy` (power-of-two blocks aligned to their size).',
    });
  }
  const allocationPolicy = policy?.values[0] as AllocationPolicy | undefined;
  const odd = allocationPolicy === 'buddy' ? slots?.values.find((v) => !isPowerOfTwo(Number(v))) : undefined;
  if (slots && odd !== undefined) {
    throw new ConfigError(`A queue entry asks for \`slots: ${odd}\` with \`allocation_policy: buddy\`, which only gives blocks of 1, 2, 4, 8, … slots.`, {
      place: slots.place,
      fix: `Ask for a power of two (e.g. ${2 ** Math.ceil(Math.log2(Number(odd)))}), or use \`allocation_policy: first_fit\`.`,
    });
  }
  const params = all.filter((p) => p.key !== 'command' && !RESERVED.has(p.key));
  return {
    commands: command.values,
    params,
    ...(timeout ? { timeout: timeout.values[0] as string } : {}),
    ...(slots ? { slots } : {}),
    ...(allocationPolicy ? { allocationPolicy } : {}),
    place,
  };
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
  // `slots` sweeps in its place among the keys, as written.
  const sweep = entry.slots ? [...entry.params, entry.slots].sort((a, b) => (a.place.line ?? 0) - (b.place.line ?? 0) || (a.place.col ?? 0) - (b.place.col ?? 0)) : entry.params;
  const bindings = cartesian(sweep);
  for (const command of entry.commands) {
    for (const binding of bindings) {
      const slots = binding.find(([key]) => key === 'slots')?.[1];
      jobs.push({
        command,
        params: slots === undefined ? binding : binding.filter(([key]) => key !== 'slots'),
        ...(entry.timeout ? { timeout: entry.timeout } : {}),
        ...(slots === undefined ? {} : { slots: Number(slots) }),
        ...(entry.allocationPolicy ? { allocationPolicy: entry.allocationPolicy } : {}),
        place: entry.place,
      });
    }
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
    for (const subnode of subnodes) renderJob(job, subnode, { slots: Array.from({ length: job.slots ?? 1 }, (_, i) => i), job: 1, attempt: 1 });
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

/** What a job's template may use besides parameters: its slots and numbers (issue 8). */
export interface RunContext {
  /** The slots allocated to it on the sub-node (`{{slots}}` renders them as `0,1`). */
  readonly slots: readonly number[];
  /** 1-based number of the job in this run (`{{@job}}`, like GNU parallel's `{#}`). */
  readonly job: number;
  /** 1 for the first try (`{{@attempt}}`). */
  readonly attempt: number;
}

/**
 * The command a job runs on a sub-node: its template rendered with host and job parameters, plus
 * `{{slots}}` and the data variables `{{@job}}`, `{{@subnode}}` (the sub-node's index, like
 * parallel's `{%}`), `{{@host}}` and `{{@attempt}}`, which cannot collide with parameters.
 */
export function renderJob(job: Job, subnode: SubNode, context: RunContext = { slots: [0], job: 1, attempt: 1 }): string {
  // `{{gpus}}`: the GPUs behind the job's slots on a `slots: auto` host (issue 15), for CUDA_VISIBLE_DEVICES.
  const gpus = subnode.gpus ? ([['gpus', gpusOfSlots(subnode, context.slots).join(',')]] as const) : [];
  const values = bindingObject([...subnode.params, ...job.params, ['slots', context.slots.join(',')], ...gpus]);
  return render(job.command, values, { field: 'command', place: job.place, subnode: subnode.label }, { job: context.job, subnode: subnode.index, host: subnode.host, attempt: context.attempt });
}

/** A job's canonical form: a plain string without parameters, else a map of `command` and each value. */
export function canonicalValue(job: Job): string | Record<string, string> {
  if (job.params.length === 0 && !job.timeout && job.slots === undefined && !job.allocationPolicy) return job.command;
  return bindingObject([
    ['command', job.command],
    ...job.params,
    ...(job.timeout ? ([['timeout', job.timeout]] as const) : []),
    ...(job.slots === undefined ? [] : ([['slots', String(job.slots)]] as const)),
    ...(job.allocationPolicy ? ([['allocation_policy', job.allocationPolicy]] as const) : []),
  ]);
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
