// Slot utilization (issue 8): busy slot-seconds / available slot-seconds for a mixed workload on one 8-slot host, FIFO vs --backfill;
// and (issue 15) the same kind of mix on an 8-GPU `slots: auto` host whose GPU 3 a colleague's process holds (a stand-in nvidia-smi).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../test/helpers/cli.js';
import { idleGpus, installFakeNvidiaSmi, writeFakeGpus } from '../test/helpers/gpus.js';

const run = promisify(execFile);
const SLOTS = 8;

// [slots, seconds, count]: long narrow jobs, wide jobs that must wait for a whole box, short fillers.
const MIX: readonly (readonly [number, number, number])[] = [
  [2, 1.2, 3],
  [8, 0.4, 1],
  [1, 0.5, 6],
  [4, 0.9, 2],
  [1, 1.0, 3],
  [8, 0.3, 1],
  [2, 0.4, 4],
  [1, 0.3, 6],
];

function queue(rounds: number): string {
  const lines: string[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [k, d, n] of MIX) {
      for (let i = 0; i < n; i++) lines.push(`- command: 's=$(date +%s%N); sleep ${d}; e=$(date +%s%N); echo "${k} $s $e" >> record'\n  slots: ${k}\n`);
    }
  }
  return lines.join('');
}

async function measure(flags: readonly string[]): Promise<{ utilization: number; makespan: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-bench-slots-'));
  try {
    await writeFile(path.join(dir, 'hosts.yaml'), `- hostname: localhost\n  slots: ${SLOTS}\n`);
    await writeFile(path.join(dir, 'queue.yaml'), queue(3));
    await run(process.execPath, [CLI, 'q', '--plain', '-p', '0', ...flags], { cwd: dir });
    const rows = (await readFile(path.join(dir, 'record'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(' ').map(Number) as [number, number, number]);
    const first = Math.min(...rows.map((r) => r[1]));
    const last = Math.max(...rows.map((r) => r[2]));
    const busy = rows.reduce((sum, [k, s, e]) => sum + k * (e - s), 0);
    return { utilization: busy / (SLOTS * (last - first)), makespan: (last - first) / 1e9 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// GPU jobs of 1, 2 and 4 GPUs (none needs the whole box, which a held GPU would block for good).
const GPU_MIX: readonly (readonly [number, number, number])[] = [
  [2, 1.2, 3],
  [1, 0.5, 6],
  [4, 0.9, 2],
  [1, 1.0, 3],
  [2, 0.4, 4],
  [1, 0.3, 6],
];
const BUSY_GPU = 3;

/** The GPU mix on localhost with `slots: auto` and 8 GPUs, GPU 3 held by someone else when `busy`: utilization of the GPUs it may use, and which GPUs jobs got. */
async function measureGpus(busy: boolean): Promise<{ utilization: number; makespan: number; jobs: number; onBusy: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-bench-gpus-'));
  try {
    const bin = await installFakeNvidiaSmi(path.join(dir, 'bin'));
    const state = path.join(dir, 'gpus');
    await writeFakeGpus(state, idleGpus(SLOTS), busy ? [{ gpu: BUSY_GPU, pid: 4242, usedMemory: 20480 }] : []);
    await writeFile(path.join(dir, 'hosts.yaml'), '- hostname: localhost\n  slots: auto\n');
    const lines: string[] = [];
    for (let r = 0; r < 3; r++) {
      for (const [k, d, n] of GPU_MIX) {
        for (let i = 0; i < n; i++) lines.push(`- command: 's=$(date +%s%N); sleep ${d}; e=$(date +%s%N); echo "${k} $s $e {{gpus}}" >> record'\n  slots: ${k}\n`);
      }
    }
    await writeFile(path.join(dir, 'queue.yaml'), lines.join(''));
    await run(process.execPath, [CLI, 'q', '--plain', '-p', '0'], { cwd: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, PEGASUS_FAKE_GPUS: state } });
    const rows = (await readFile(path.join(dir, 'record'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const first = Math.min(...rows.map((r) => Number(r[1])));
    const last = Math.max(...rows.map((r) => Number(r[2])));
    const work = rows.reduce((sum, r) => sum + Number(r[0]) * (Number(r[2]) - Number(r[1])), 0);
    const usable = busy ? SLOTS - 1 : SLOTS;
    const onBusy = rows.filter((r) => (r[3] ?? '').split(',').map(Number).includes(BUSY_GPU)).length;
    return { utilization: work / (usable * (last - first)), makespan: (last - first) / 1e9, jobs: rows.length, onBusy };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const fifo = await measure([]);
const backfill = await measure(['--backfill']);
console.log(
  [
    `| scheduling | makespan s | utilization (busy / available slot-seconds) |`,
    `|---|---:|---:|`,
    `| FIFO (default) | ${fifo.makespan.toFixed(2)} | ${(fifo.utilization * 100).toFixed(0)}% |`,
    `| --backfill | ${backfill.makespan.toFixed(2)} | ${(backfill.utilization * 100).toFixed(0)}% |`,
    '',
    `${MIX.reduce((n, [, , c]) => n + c, 0) * 3} jobs of 1, 2, 4 and 8 slots on one localhost sub-node with slots: ${SLOTS}; backfill makespan ${((backfill.makespan / fifo.makespan) * 100).toFixed(0)}% of FIFO's.`,
  ].join('\n'),
);

const allFree = await measureGpus(false);
const oneBusy = await measureGpus(true);
console.log(
  [
    '',
    `| slots: auto, 8 GPUs | makespan s | utilization of the usable GPUs | jobs | jobs on GPU ${BUSY_GPU} |`,
    '|---|---:|---:|---:|---:|',
    `| all free | ${allFree.makespan.toFixed(2)} | ${(allFree.utilization * 100).toFixed(0)}% of 8 | ${allFree.jobs} | ${allFree.onBusy} |`,
    `| GPU ${BUSY_GPU} busy (foreign process, 20 GiB) | ${oneBusy.makespan.toFixed(2)} | ${(oneBusy.utilization * 100).toFixed(0)}% of 7 | ${oneBusy.jobs} | ${oneBusy.onBusy} |`,
    '',
    `${GPU_MIX.reduce((n, [, , c]) => n + c, 0) * 3} jobs of 1, 2 and 4 GPUs, FIFO, stand-in nvidia-smi (test/helpers/gpus.ts) asked before each placement (answers reused 1.5 s); makespan with one GPU held ${((oneBusy.makespan / allFree.makespan) * 100).toFixed(0)}% of all-free.`,
  ].join('\n'),
);
if (oneBusy.onBusy > 0) {
  console.error(`pegasus placed ${oneBusy.onBusy} job(s) on the busy GPU ${BUSY_GPU}`);
  process.exitCode = 1;
}
