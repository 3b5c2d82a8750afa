// Slot utilization (issue 8): busy slot-seconds / available slot-seconds for a mixed workload on one 8-slot host, FIFO vs --backfill.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../test/helpers/cli.js';

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
