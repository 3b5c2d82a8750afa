// Read-ahead for short jobs (issue 17): a run of short jobs takes the next ones before a sub-node asks, and what it read
// ahead goes back to the head of queue.yaml when it is not taken in time (a long job came) or when the run stops.
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { startPegasus } from '../helpers/cli.js';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map(removeTmpDir)));

async function workspace(queue: string) {
  const dir = await makeTmpDir('pegasus-read-ahead-');
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), '- localhost\n');
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return {
    dir,
    gate: path.join(dir, 'gate'),
    read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => ''),
    /** Resolves once `name` holds `text` (checked at each change of the folder: file events, no polling). */
    becomes: (name: string, text: string) =>
      new Promise<void>((resolve) => {
        const watcher = watch(dir);
        const check = (): void =>
          void readFile(path.join(dir, name), 'utf8')
            .catch(() => '')
            .then((now) => {
              if (now !== text) return;
              watcher.close();
              resolve();
            });
        watcher.on('change', check);
        check();
      }),
  };
}

/** Jobs `echo after-1` ... `echo after-<n>`, one entry each. */
const afterJobs = (n: number): string => Array.from({ length: n }, (_, i) => `- echo after-${i + 1}\n`).join('');
const after5 = afterJobs(5);
const gated = (gate: string): string => `- echo long started; while [ ! -e ${gate} ]; do sleep 0.05; done\n`;
// Read ahead as far as it goes after the first job, whatever its duration on a busy machine.
const EAGER = { PEGASUS_READ_AHEAD_MS: '1000000' };

test('jobs read ahead behind a long job go back to queue.yaml in order, and each then runs once, in queue order', async () => {
  const ws = await workspace('- "true"\n');
  await writeFile(path.join(ws.dir, 'queue.yaml'), `- "true"\n${gated(ws.gate)}${after5}`);
  const run = startPegasus(['q', '--plain'], { cwd: ws.dir, env: EAGER });
  await run.stdout(/long started/);
  // The take that brought the long job brought the five behind it too (they are in consumed.yaml)...
  assert.match(await ws.read('consumed.yaml'), /after-5/);
  // ...and nobody takes them while the long job runs: they go back, and queue.yaml again lists every job not started.
  await ws.becomes('queue.yaml', after5);
  // They never ran, so they come off consumed.yaml too (just after: the queue file is written first).
  await ws.becomes('consumed.yaml', `- "true"\n${gated(ws.gate)}`.replace('"true"', 'true'));
  await writeFile(ws.gate, '');
  const done = await run.exited;
  assert.equal(done.code, 0, done.stderr);
  const order = [...done.stdout.matchAll(/\] after-(\d)$/gm)].map((m) => m[1]);
  assert.deepEqual(order, ['1', '2', '3', '4', '5']);
  assert.equal(await ws.read('queue.yaml'), '');
  assert.match(done.stderr, /7 jobs run, 7 succeeded/);
  // consumed.yaml lists each job once: what was taken to run.
  assert.equal((await ws.read('consumed.yaml')).match(/after-\d/g)?.join(' '), 'after-1 after-2 after-3 after-4 after-5');
});

test('a take reads at most 64 jobs ahead: the others stay in queue.yaml while a long job runs, and all run in order', async () => {
  const ws = await workspace('');
  await writeFile(path.join(ws.dir, 'queue.yaml'), `- "true"\n${gated(ws.gate)}${afterJobs(100)}`);
  const run = startPegasus(['q', '--plain'], { cwd: ws.dir, env: { ...EAGER, PEGASUS_HOLD_MS: '600000' } });
  await run.stdout(/long started/);
  // The take that brought the long job brought the 64 behind it, no more.
  assert.equal((await ws.read('consumed.yaml')).match(/after-\d+/g)?.length, 64);
  assert.match(await ws.read('queue.yaml'), /^- echo after-65\n/);
  await writeFile(ws.gate, '');
  const done = await run.exited;
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(
    [...done.stdout.matchAll(/\] after-(\d+)$/gm)].map((m) => Number(m[1])),
    Array.from({ length: 100 }, (_, i) => i + 1),
  );
  assert.match(done.stderr, /102 jobs run, 102 succeeded/);
});

test('a run stopped while it holds jobs read ahead puts them back at the head of queue.yaml, behind the cancelled job', async () => {
  const ws = await workspace('');
  await writeFile(path.join(ws.dir, 'queue.yaml'), `- "true"\n${gated(ws.gate)}${after5}`);
  // Held for long: only the stop can give them back.
  const run = startPegasus(['q', '--plain'], { cwd: ws.dir, env: { ...EAGER, PEGASUS_HOLD_MS: '600000' } });
  await run.stdout(/long started/);
  assert.equal(await ws.read('queue.yaml'), '');
  process.kill(run.pid, 'SIGTERM');
  const done = await run.exited;
  assert.equal(done.code, 143, done.stderr);
  assert.equal(await ws.read('queue.yaml'), `${gated(ws.gate)}${after5}`);
  assert.doesNotMatch(await ws.read('consumed.yaml'), /after/);
});
