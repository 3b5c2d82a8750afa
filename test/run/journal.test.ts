// The run journal as a later run reads it: what a run that died had taken and never finished.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { collectInterrupted, Journal, journalDirOf, markReturning } from '../../src/run/journal.js';
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
  /** The run "dies" here: the rename never comes. */
  const holding = async () => {
    if (!hold) return;
    hold();
    await new Promise(() => undefined);
  };
  const store = new QueueStore(queueFilesOf(file), {
    check: () => undefined,
    onTaken: async (jobs, pending) => {
      await journal.taken(jobs, pending);
      await holding();
    },
    onReturning: async (jobs, pending) => {
      await journal.returning(jobs, pending);
      await holding();
    },
    onNotReturned: (jobs) => journal.returning(jobs, null),
  });
  /** Makes the journal look like a dead run's, as a later run finds it. */
  const die = async () => {
    const [name] = await readdir(journalDir);
    await rename(path.join(journalDir, name!), path.join(journalDir, name!.replace(/^\d+/, String(deadPid()))));
  };
  return { dir, file, journalDir, store, journal, die, holdNext: (reached: () => void) => (hold = reached) };
}

test('a run killed after journaling a take but before renaming the new queue in: the jobs are still queued, so none is interrupted', async () => {
  const ws = await workspace('- echo one\n- echo two\n');
  const reached = new Promise<void>((resolve) => ws.holdNext(resolve));
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

test('a run killed after putting a job back but before journaling it as ended: it is in the queue once, not interrupted', async () => {
  const ws = await workspace('- echo one\n- echo two\n');
  const { jobs } = await ws.store.take(1);
  await ws.store.putBack(jobs); // a cancelled job goes back; the run dies before its 'finished' line
  await ws.store.close();
  assert.equal(await readFile(ws.file, 'utf8'), '- echo one\n- echo two\n');
  await ws.die();
  assert.deepEqual((await collectInterrupted(ws.journalDir)).jobs, [], 'putting it back again would run it twice');
});

test('a run killed while putting a job back, before the rename: the job is interrupted, not lost', async () => {
  const ws = await workspace('- echo one\n- echo two\n');
  const { jobs } = await ws.store.take(1);
  const reached = new Promise<void>((resolve) => ws.holdNext(resolve));
  void ws.store.putBack(jobs);
  await reached;
  assert.equal(await readFile(ws.file, 'utf8'), '- echo two\n');
  await ws.die();
  assert.deepEqual((await collectInterrupted(ws.journalDir)).jobs.map((j) => j.job), ['echo one']);
  assert.deepEqual((await readdir(ws.dir)).filter((n) => n.endsWith('.tmp')), [], 'the put-back that never happened left no file');
});

test('--requeue-interrupted killed after putting jobs back but before forgetting the dead journal: a later run does not put them back again', async () => {
  const ws = await workspace('- echo one\n- echo two\n');
  await ws.store.take(1);
  await ws.store.close();
  await ws.die();
  // What `pegasus q --requeue-interrupted` does, up to the crash: under the lock, found, marked, put back.
  const later = new QueueStore(queueFilesOf(ws.file), { check: () => undefined });
  let found: Awaited<ReturnType<typeof collectInterrupted>> = { jobs: [], files: [] };
  await later.add(
    async () => {
      found = await collectInterrupted(ws.journalDir);
      return found.jobs.map((j) => `- ${String(j.job)}\n`).join('');
    },
    { front: true, record: { pending: (temp) => markReturning(found.jobs, temp), failed: () => markReturning(found.jobs, null) } },
  );
  await later.close();
  assert.equal(found.jobs.length, 1);
  assert.equal(await readFile(ws.file, 'utf8'), '- echo one\n- echo two\n');
  assert.deepEqual((await collectInterrupted(ws.journalDir)).jobs, [], 'the journal was not forgotten, yet its job is back already');
});
