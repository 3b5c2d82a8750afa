// Pop cost against queue length: ms per pop from 1,000 / 10,000 / 100,000-entry queue files (issue 3, issue 7 "Q").
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { QueueStore, queueFilesOf } from '../src/queue/store.js';

const POPS = 50;

async function measure(entries: number): Promise<{ median: number; p95: number; bytes: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-bench-pop-'));
  try {
    const lines: string[] = ['# a big sweep, written by bench/pop'];
    for (let i = 0; i < entries; i++) {
      lines.push(i % 10 === 0 ? `- command: python train.py --lr {{lr}} --seed ${i}\n  lr: [1e-3, 1e-4]` : `- echo job ${i} "quoted" # note`);
    }
    const text = `${lines.join('\n')}\n`;
    const file = path.join(dir, 'queue.yaml');
    await writeFile(file, text);
    const store = new QueueStore(queueFilesOf(file), { check: () => undefined });
    const times: number[] = [];
    for (let i = 0; i < POPS; i++) {
      const start = performance.now();
      const { jobs } = await store.take(1);
      times.push(performance.now() - start);
      if (jobs.length !== 1) throw new Error('queue ran dry');
    }
    await store.close();
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(POPS / 2)]!, p95: times[Math.floor(POPS * 0.95)]!, bytes: Buffer.byteLength(text) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const rows: string[] = ['| entries | file size | ms per pop (median) | p95 |', '|---:|---:|---:|---:|'];
let base = 0;
for (const entries of [1_000, 10_000, 100_000]) {
  const { median, p95, bytes } = await measure(entries);
  if (!base) base = median;
  rows.push(`| ${entries.toLocaleString('en')} | ${(bytes / 1024).toFixed(0)} KiB | ${median.toFixed(2)} (${(median / base).toFixed(1)}x) | ${p95.toFixed(2)} |`);
}
console.log(`pop cost (take one job: lock, read, lex the head, append+fsync consumed.yaml, write+fsync+rename queue.yaml)\n${rows.join('\n')}`);
