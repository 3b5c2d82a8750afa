// The run journal as a later run reads it: what a run that died had taken and never finished.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { collectInterrupted, Journal, journalDirOf } from '../../src/run/journal.js';
import { QueueStore, queueFilesOf } from '../../src/queue/store.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** The pid of a process that has exited, as a run that died leaves it. */
function deadPid(): number {
  const pid = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
  return Number(pid);
}

/** A queue with a journal whose takes can be held just before the queue file is renamed in. */
async function workspace(text: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-journal-'));
  dirs.push(dir);
  const file = path.join(dir, 'queue.yaml');
  await writeFile(file, text);
  const journalDir = journalDirOf(file);
  const journal = await Journal.open(journalDir);
  let hold: (() => void) | undefined;
  const store = new QueueStore(queueFilesOf(file), {
    check: () => undefined,
    onTaken: async (jobs, pending) => {
      await journal.taken(jobs, pending);
      if (hold) hold();
      if (hold) await new Promise(() => undefined); // the run "dies" here: the rename never comes
    },
  });
  /** Makes the journal look like a dead run's, as a later run finds it. */
  const die = async () => {
    const [name] = await readdir(journalDir);
    await rename(path.join(journalDir, name!), path.join(journalDir, name!.replace(/^\d+/, String(deadPid()))));
  };
  return { dir, file, journalDir, store, die, holdNextTake: (reached: () => void) => (hold = reached) };
}

test('a run killed after journaling a take but before renaming the new queue in: the jobs are still queued, so none is interrupted', async () => {
  const ws = await workspace('- echo one\n- echo two\n');
  const reached = new Promise<void>((resolve) => ws.holdNextTake(resolve));
  void ws.store.take(2);
  await reached;
  // The journal has both jobs as taken; the queue file still holds them.
  assert.match(await readFile(path.join(ws.journalDir, (await readdir(ws.journalDir))[0]!), 'utf8'), /"t":"taken".*"echo one"[^]*"echo two"/);
  assert.equal(await readFile(ws.file, 'utf8'), '- echo one\n- echo two\n');
  await ws.die();
  const { jobs } = await collectInterrupted(ws.journalDir);
  assert.deepEqual(jobs, [], 'putting them back would run each twice');
  // The take's new queue file is gone, and so is the journal with nothing left to tell.
  assert.deepEqual((await readdir(ws.dir)).filter((n) => n.endsWith('.tmp')), []);
  assert.deepEqual(await readdir(ws.journalDir), []);
});

test('a run killed after the rename: its taken jobs are interrupted and listed', async () => {
  const ws = await workspace('- echo one\n- echo two\n');
  assert.equal((await ws.store.take(1)).jobs.length, 1);
  await ws.store.close();
  assert.equal(await readFile(ws.file, 'utf8'), '- echo two\n');
  await ws.die();
  const { jobs, files } = await collectInterrupted(ws.journalDir);
  assert.deepEqual(jobs.map((j) => j.job), ['echo one']);
  assert.equal(files.length, 1);
});
