// `pegasus q --dry-run`: the sub-nodes and the expanded jobs, checked; nothing is run or written.
import { type SubNode } from '../config/hosts.js';
import { checkEntry, expandEntry, parseQueue } from '../config/jobs.js';
import { EXIT } from './exit.js';
import { readQueueText } from '../queue/text.js';
import { type RunFlags } from './run-command.js';

/** `--dry-run`: expand and check everything, run nothing, write nothing. */
export async function dryRun(subnodes: readonly SubNode[], flags: RunFlags): Promise<number> {
  const entries = parseQueue(await readQueueText(flags.queueFile, { missingOk: false }), flags.queueFile);
  const out: string[] = [`sub-nodes (${subnodes.length}):`];
  for (const subnode of subnodes) out.push(`  [${subnode.label}]`);
  const jobs = entries.flatMap((entry) => {
    checkEntry(entry, subnodes);
    return expandEntry(entry);
  });
  out.push(`jobs (${jobs.length}):`);
  jobs.forEach((job, i) => {
    const params = job.params.length ? `   (${job.params.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
    out.push(`  ${i + 1}. ${job.command.replace(/\n/g, '\n     ')}${params}`);
  });
  out.push('every job renders on every sub-node; nothing was run and no file was changed.');
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}

