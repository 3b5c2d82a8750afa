// `pegasus q --dry-run`: the sub-nodes and the expanded jobs, checked; nothing is run or written.
import type { SubNode } from '../config/hosts.js';
import { GpuWatch } from '../run/gpu-watch.js';
import { gpuLines } from '../ui/gpu-text.js';
import { openConnections } from './connections.js';
import { checkEntry, expandEntry, parseQueue } from '../config/jobs.js';
import { EXIT } from './exit.js';
import { readQueueText } from '../queue/text.js';
import type { RunFlags } from './run-command.js';

/** `--dry-run`: expand and check everything, run nothing, write nothing. */
export async function dryRun(subnodes: readonly SubNode[], flags: RunFlags): Promise<number> {
  const entries = parseQueue(await readQueueText(flags.queueFile, { missingOk: false }), flags.queueFile);
  const out: string[] = [`sub-nodes (${subnodes.length}):`];
  const gpus = await gpusOf(subnodes, flags);
  for (const subnode of subnodes) out.push(`  [${subnode.label}]`, ...(gpus.get(subnode) ?? []).map((line) => `    ${line}`));
  const jobs = entries.flatMap((entry) => {
    checkEntry(entry, subnodes);
    return expandEntry(entry);
  });
  out.push(`jobs (${jobs.length}):`);
  jobs.forEach((job, i) => {
    const params = job.params.length ? `   (${job.params.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
    out.push(`  ${i + 1}. ${job.command.replace(/\n/g, '\n     ')}${params}`);
  });
  out.push(`every job renders on every sub-node; nothing was run${gpus.size > 0 ? ' (but nvidia-smi, to count the GPUs)' : ''} and no file was changed.`);
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}


/** `slots: auto` sub-nodes: their hosts are asked for their GPUs (issue 15), the one thing a dry run connects for. */
async function gpusOf(subnodes: readonly SubNode[], flags: RunFlags): Promise<Map<SubNode, string[]>> {
  const auto = subnodes.filter((s) => s.gpus);
  const out = new Map<SubNode, string[]>();
  if (auto.length === 0) return out;
  const connections = await openConnections(flags, auto);
  try {
    const watch = new GpuWatch(() => undefined);
    await Promise.all(
      auto.map(async (subnode) => {
        const reached = await connections.executorFor(subnode);
        if ('error' in reached) return out.set(subnode, [`slots: auto, but the host cannot be reached: ${reached.error.message}`]);
        const ids = await watch.count(subnode, reached.executor);
        if (typeof ids === 'string') return out.set(subnode, [`slots: auto, but ${ids}: it would take no job`]);
        const perGpu = subnode.gpus?.perGpu ?? 1;
        const counted: SubNode = { ...subnode, slots: ids.length * perGpu, ...(subnode.gpus ? { gpus: { ...subnode.gpus, ids } } : {}) };
        watch.track(counted);
        const views = watch.describe()[subnode.label] ?? [];
        return out.set(subnode, [`slots: auto: ${ids.length} GPU${ids.length === 1 ? '' : 's'} (${ids.join(', ')}), ${counted.slots} slot${counted.slots === 1 ? '' : 's'}`, ...gpuLines(views)]);
      }),
    );
  } finally {
    await connections.close();
  }
  return out;
}
