// hosts.yaml: host entries and their expansion into sub-nodes (one execution slot each).
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq } from 'yaml';
import { ConfigError, type Place } from '../errors.js';
import { bindingObject, cartesian, readParams, type Binding, type EntryContext, type Param } from './params.js';
import { render } from './template.js';
import { excerptAt, kindOf, parseYaml, placeOf, scalarText } from './yaml.js';

/** One execution slot: a host plus one combination of its parameters. */
export interface SubNode {
  /** 0-based position in expansion order. */
  readonly index: number;
  /** The host to connect to (ssh config alias or address), rendered. */
  readonly host: string;
  /** Every parameter including `hostname`, in file order. */
  readonly params: Binding;
  /** `host (k=v, ...)`, used to prefix output lines. */
  readonly label: string;
  /** Numbered slots it offers (`slots: N` on the host entry, default 1), e.g. its GPUs (issue 8). */
  readonly slots: number;
  /** Where the host entry is. */
  readonly place: Place;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1']);

/** True when a sub-node runs as a local subprocess instead of over SSH. */
export function isLocalHost(host: string): boolean {
  return LOCAL_HOSTS.has(host.trim().toLowerCase());
}

/** Reads and expands a hosts file; a missing or empty file is a ConfigError. */
export async function loadHosts(file: string): Promise<SubNode[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the hosts file ${file}: ${(error as Error).message}.`, {
      place: { file },
      fix: 'Create it with one host per line, e.g. `- localhost`, or point to it with --hosts-file.',
      cause: error,
    });
  }
  return parseHosts(text, file);
}

/** Expands the text of a hosts file into sub-nodes, in deterministic order. */
export function parseHosts(text: string, file: string): SubNode[] {
  const source = parseYaml(text, file);
  const root = source.doc.contents;
  const context: EntryContext = { source, what: 'host entry' };
  if (root === null || (isScalar(root) && scalarText(root) === '') || (isSeq(root) && root.items.length === 0)) {
    throw new ConfigError(`The hosts file ${file} lists no hosts.`, {
      place: { file },
      fix: 'Add at least one host, e.g. `- localhost` or `- hostname: [node1, node2]`.',
    });
  }
  if (!isSeq(root)) {
    throw new ConfigError(`The hosts file ${file} must be a list, but its top level is ${kindOf(root)}.`, {
      place: placeOf(source, root ?? undefined),
      fix: 'Write one host per line, each starting with `- `.',
    });
  }
  const subnodes: SubNode[] = [];
  for (const item of root.items) {
    const place = placeOf(source, isMap(item) || isScalar(item) || isSeq(item) ? item : undefined);
    for (const all of expandHostEntry(item, context, place)) {
      // `slots` is reserved: how many jobs' worth of slots the sub-node offers, not a parameter.
      const slotsText = all.find(([key]) => key === 'slots')?.[1];
      if (slotsText !== undefined && !/^[1-9]\d*$/.test(slotsText)) {
        throw new ConfigError(`A host entry's \`slots\` is \`${slotsText}\`, which is not a whole number of slots.`, {
          place,
          fix: 'Write how many slots each of its sub-nodes offers, e.g. `slots: 8` for an 8-GPU machine.',
        });
      }
      const binding = all.filter(([key]) => key !== 'slots');
      const hostTemplate = binding.find(([key]) => key === 'hostname')?.[1] ?? '';
      const others = binding.filter(([key]) => key !== 'hostname');
      const host = render(hostTemplate, bindingObject(others), { field: 'hostname', place }).trim();
      if (host === '') {
        throw new ConfigError('A host entry has an empty hostname.', { place, fix: 'Give the host name or ssh alias.' });
      }
      const params: Binding = binding.map(([key, value]) => [key, key === 'hostname' ? host : value] as const);
      subnodes.push({ index: subnodes.length, host, params, label: labelOf(host, others), slots: Number(slotsText ?? 1), place });
    }
  }
  return subnodes;
}

function expandHostEntry(item: unknown, context: EntryContext, place: Place): Binding[] {
  const name = scalarText(item);
  if (name !== undefined && item !== null) return [[['hostname', name]]];
  if (!isMap(item)) {
    const offset = isSeq(item) ? item.range?.[0] : undefined;
    throw new ConfigError(`A host entry is ${kindOf(item)}; it must be a host name or a map with \`hostname\`.`, {
      place,
      ...(offset === undefined ? {} : { excerpt: excerptAt(context.source, offset) }),
      fix: 'Write `- node1`, or `- hostname: [node1, node2]` with other parameters beside it.',
    });
  }
  const params: Param[] = readParams(item, context);
  if (!params.some((p) => p.key === 'hostname')) {
    throw new ConfigError(
      `A host entry has no \`hostname\` key (it has ${params.map((p) => `\`${p.key}\``).join(', ') || 'no keys'}).`,
      { place, excerpt: excerptAt(context.source, item.range?.[0] ?? 0), fix: 'Add `hostname: <host or ssh alias>` to the entry.' },
    );
  }
  return cartesian(params);
}

function labelOf(host: string, others: Binding): string {
  if (others.length === 0) return host;
  return `${host} (${others.map(([key, value]) => `${key}=${value}`).join(', ')})`;
}
