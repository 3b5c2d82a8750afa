// hosts.yaml: host entries and their expansion into sub-nodes (one execution slot each).
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, type YAMLMap } from 'yaml';
import { DEFAULT_GPU_POLICY, parseSizeMiB, type GpuPolicy } from '../exec/gpus.js';
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
  /** `slots: auto` (issue 15): one slot per GPU (times `slots_per_gpu`), counted with nvidia-smi when the host connects. */
  readonly gpus?: GpuSlots;
}

/** How a `slots: auto` sub-node's slots map to its GPUs. */
export interface GpuSlots {
  /** `slots_per_gpu`: jobs that may share one GPU (default 1). */
  readonly perGpu: number;
  /** `CUDA_VISIBLE_DEVICES` on the host entry: only these GPU indices are used. */
  readonly visible?: readonly number[];
  /** `gpu_free`: when a GPU counts as free. */
  readonly policy: GpuPolicy;
  /** The GPU indices found when the host connected (slot i is GPU ids[floor(i / perGpu)]); absent until then. */
  readonly ids?: readonly number[];
}

/** The GPU behind each of a sub-node's slots, or the slots themselves when it has no GPUs. */
export function gpusOfSlots(subnode: SubNode, slots: readonly number[]): number[] {
  const gpus = subnode.gpus;
  if (!gpus) return [...slots];
  const ids = gpus.ids ?? [];
  return [...new Set(slots.map((slot) => ids[Math.floor(slot / gpus.perGpu)] ?? Math.floor(slot / gpus.perGpu)))];
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
  // `- gpu_free: {...}` alone in the list: the policy of every `slots: auto` entry that names none.
  const isFileWide = (item: unknown): item is YAMLMap => isMap(item) && item.items.length === 1 && scalarText(item.items[0]?.key) === 'gpu_free';
  const wide = root.items.filter((item): item is YAMLMap & typeof item => isFileWide(item));
  if (wide.length > 1) throw new ConfigError('The hosts file has more than one list item with only `gpu_free`.', { place: placeOf(source, wide[1]), fix: 'Keep one file-wide `- gpu_free: {...}`; give other hosts their own `gpu_free` beside `hostname`.' });
  const filePolicy = wide[0] ? readGpuPolicy(wide[0], context, placeOf(source, wide[0])) : undefined;
  if (wide.length === root.items.length) throw new ConfigError(`The hosts file ${file} lists no hosts.`, { place: { file }, fix: 'Add at least one host beside the file-wide `gpu_free`.' });
  const subnodes: SubNode[] = [];
  for (const item of root.items) {
    if (isFileWide(item)) continue;
    const place = placeOf(source, isMap(item) || isScalar(item) || isSeq(item) ? item : undefined);
    const own = isMap(item) ? readGpuPolicy(item, context, place) : undefined;
    const policy = own ?? filePolicy;
    for (const all of expandHostEntry(item, context, place)) {
      // `slots` is reserved: how many jobs' worth of slots the sub-node offers, not a parameter.
      const slotsText = all.find(([key]) => key === 'slots')?.[1];
      const auto = slotsText === 'auto';
      if (slotsText !== undefined && !auto && !/^[1-9]\d*$/.test(slotsText)) {
        throw new ConfigError(`A host entry's \`slots\` is \`${slotsText}\`, which is not a whole number of slots.`, {
          place,
          fix: 'Write how many slots each of its sub-nodes offers, e.g. `slots: 8` for an 8-GPU machine, or `slots: auto` to count its GPUs.',
        });
      }
      const perGpuText = all.find(([key]) => key === 'slots_per_gpu')?.[1];
      if (perGpuText !== undefined && (!auto || !/^[1-9]\d*$/.test(perGpuText))) {
        throw new ConfigError(auto ? `A host entry's \`slots_per_gpu\` is \`${perGpuText}\`, which is not a whole number.` : 'A host entry has `slots_per_gpu` without `slots: auto`.', {
          place,
          fix: 'Write `slots: auto` with `slots_per_gpu: 2` to let two jobs share each GPU.',
        });
      }
      if (own && !auto) throw new ConfigError('A host entry has `gpu_free` without `slots: auto`.', { place, fix: 'Add `slots: auto`: the policy applies to the GPUs pegasus counts.' });
      const visibleText = all.find(([key]) => key === 'CUDA_VISIBLE_DEVICES')?.[1];
      const visible = auto && visibleText !== undefined ? visibleText.split(',').map((v) => v.trim()) : undefined;
      if (visible && !visible.every((v) => /^\d+$/.test(v))) {
        throw new ConfigError(`A host entry's \`CUDA_VISIBLE_DEVICES\` is \`${visibleText}\`; with \`slots: auto\` it must list GPU indices.`, {
          place,
          fix: 'Write GPU indices as nvidia-smi numbers them, e.g. `CUDA_VISIBLE_DEVICES: "0,2,3"`.',
        });
      }
      const binding = all.filter(([key]) => key !== 'slots' && key !== 'slots_per_gpu');
      const hostTemplate = binding.find(([key]) => key === 'hostname')?.[1] ?? '';
      const others = binding.filter(([key]) => key !== 'hostname');
      const host = render(hostTemplate, bindingObject(others), { field: 'hostname', place }).trim();
      if (host === '') {
        throw new ConfigError('A host entry has an empty hostname.', { place, fix: 'Give the host name or ssh alias.' });
      }
      const params: Binding = binding.map(([key, value]) => [key, key === 'hostname' ? host : value] as const);
      const gpus: GpuSlots | undefined = auto
        ? { perGpu: Number(perGpuText ?? 1), ...(visible ? { visible: visible.map(Number) } : {}), policy: policy ?? DEFAULT_GPU_POLICY }
        : undefined;
      // A `slots: auto` sub-node has no slots until its GPUs are counted.
      subnodes.push({ index: subnodes.length, host, params, label: labelOf(host, others), slots: auto ? 0 : Number(slotsText ?? 1), place, ...(gpus ? { gpus } : {}) });
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
  // `gpu_free` is a map, not a parameter: read by readGpuPolicy.
  const params: Param[] = readParams(withoutKey(item, 'gpu_free'), context);
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

function withoutKey(map: YAMLMap, key: string): YAMLMap {
  const copy = map.clone() as YAMLMap;
  copy.items = copy.items.filter((pair) => scalarText(pair.key) !== key);
  return copy;
}

/** `gpu_free: { max_memory_used: 1GiB, foreign_processes: false }` on a host entry. */
function readGpuPolicy(item: YAMLMap, context: EntryContext, place: Place): GpuPolicy | undefined {
  const pair = item.items.find((p) => scalarText(p.key) === 'gpu_free');
  if (!pair) return undefined;
  const at = placeOf(context.source, isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? place;
  const fix = 'Write e.g. `gpu_free: { max_memory_used: 1GiB, foreign_processes: false }`.';
  if (!isMap(pair.value)) throw new ConfigError(`A host entry's \`gpu_free\` is ${kindOf(pair.value)}; it must be a map.`, { place: at, fix });
  let policy: GpuPolicy = DEFAULT_GPU_POLICY;
  for (const p of pair.value.items) {
    const key = scalarText(p.key);
    const value = scalarText(p.value);
    if (key === 'max_memory_used') {
      const mib = value === undefined ? undefined : parseSizeMiB(value);
      if (mib === undefined) throw new ConfigError(`\`gpu_free.max_memory_used\` is \`${value ?? kindOf(p.value)}\`, which is not a size.`, { place: at, fix: 'Write a size such as 1GiB, 512MiB or 2G.' });
      policy = { ...policy, maxMemoryUsedMiB: mib };
    } else if (key === 'foreign_processes') {
      if (value !== 'true' && value !== 'false') throw new ConfigError(`\`gpu_free.foreign_processes\` is \`${value ?? kindOf(p.value)}\`; it must be true or false.`, { place: at, fix: '`foreign_processes: false` (the default) keeps jobs off GPUs where another process runs.' });
      policy = { ...policy, foreignProcesses: value === 'true' };
    } else {
      throw new ConfigError(`\`gpu_free\` has an unknown key \`${key ?? kindOf(p.key)}\`.`, { place: at, fix: `It knows \`max_memory_used\` and \`foreign_processes\`. ${fix}` });
    }
  }
  return policy;
}
