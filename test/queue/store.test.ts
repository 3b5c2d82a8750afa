// The queue store: what users see in queue.yaml and consumed.yaml after pops, bursts, put-backs and bad entries.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { QueueStore, queueFilesOf } from '../../src/queue/store.js';

const dirs: string[] = [];
const stores: QueueStore[] = [];
after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function queueWith(text: string, check: () => void = () => undefined) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-store-'));
  dirs.push(dir);
  const file = path.join(dir, 'queue.yaml');
  await writeFile(file, text);
  const store = new QueueStore(queueFilesOf(file), { check });
  stores.push(store);
  const read = async (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '');
  return { store, file, dir, queue: () => read('queue.yaml'), consumed: () => read('consumed.yaml') };
}

test('popping keeps every other byte of the queue: comments, blank lines, quoting, key order', async () => {
  const text = '# my sweep\n- echo one   # first\n\n# second is quoted\n- "echo \'two\'"\n- command: x\n  b: 1   # keep\n  a: 2\n';
  const q = await queueWith(text);
  const taken = await q.store.take(1);
  assert.deepEqual(taken.jobs.map((j) => j.command), ['echo one']);
  assert.equal(await q.queue(), '# my sweep\n\n# second is quoted\n- "echo \'two\'"\n- command: x\n  b: 1   # keep\n  a: 2\n');
  assert.equal(await q.consumed(), '- echo one\n');
});

test('a parametrized entry bursts: first job taken, the rest written back at the head in canonical form', async () => {
  const q = await queueWith('# header\n- command:\n    - train --lr {{lr}} --bs {{bs}}\n  lr: [1e-3, 1e-4]\n  bs: [8, 16]\n- echo after\n');
  const taken = await q.store.take(1);
  assert.deepEqual(taken.jobs[0]!.params, [['lr', '1e-3'], ['bs', '8']]);
  assert.equal(
    await q.queue(),
    '# header\n' +
      '- command: train --lr {{lr}} --bs {{bs}}\n  lr: 1e-3\n  bs: 16\n' +
      '- command: train --lr {{lr}} --bs {{bs}}\n  lr: 1e-4\n  bs: 8\n' +
      '- command: train --lr {{lr}} --bs {{bs}}\n  lr: 1e-4\n  bs: 16\n' +
      '- echo after\n',
  );
  assert.equal(await q.consumed(), '- command: train --lr {{lr}} --bs {{bs}}\n  lr: 1e-3\n  bs: 8\n');
});

test('draining leaves the comments and no `[]`, so `echo "- cmd" >> queue.yaml` keeps working', async () => {
  const q = await queueWith('# keep me\n- a\n- b\n');
  assert.equal((await q.store.take(5)).jobs.length, 2);
  assert.equal(await q.queue(), '# keep me\n');
  assert.deepEqual((await q.store.take(1)).jobs, []);
  await writeFile(q.file, `${await q.queue()}- c\n`);
  assert.equal((await q.store.take(1)).jobs[0]!.command, 'c');
  assert.equal(await q.consumed(), '- a\n- b\n- c\n');
});

test('a bad head entry stays in the queue and is reported; entries before it are taken', async () => {
  const q = await queueWith('- ok\n- cmd: oops\n- later\n');
  const taken = await q.store.take(3);
  assert.deepEqual(taken.jobs.map((j) => j.command), ['ok']);
  assert.ok(taken.error instanceof ConfigError);
  // The place is in the file as it now is on disk: the good entry before it is gone.
  assert.match(taken.error.describe(), /queue\.yaml:1:3: A queue entry has no `command` key/);
  assert.equal(await q.queue(), '- cmd: oops\n- later\n');
});

test('an entry the check refuses (e.g. unknown variable) is not taken', async () => {
  const q = await queueWith('- echo {{nope}}\n', () => {
    throw new ConfigError('unknown variable');
  });
  const taken = await q.store.take(1);
  assert.equal(taken.jobs.length, 0);
  assert.equal(await q.queue(), '- echo {{nope}}\n');
  assert.equal(await q.consumed(), '');
});

test('putBack writes jobs at the head in canonical form; consumed.yaml is only appended', async () => {
  const q = await queueWith('- a\n- b\n');
  const { jobs } = await q.store.take(1);
  await q.store.putBack(jobs);
  assert.equal(await q.queue(), '- a\n- b\n');
  assert.equal(await q.consumed(), '- a\n');
});

test('a flow-style queue is still popped (through a full parse)', async () => {
  const q = await queueWith('[a, b]\n');
  assert.equal((await q.store.take(1)).jobs[0]!.command, 'a');
  assert.equal((await q.queue()).trim(), '[ b ]');
});

test('a top level that is not a list is an error and nothing is taken', async () => {
  const q = await queueWith('command: x\n');
  const taken = await q.store.take(1);
  assert.equal(taken.jobs.length, 0);
  assert.match(taken.error?.message ?? '', /must be a list/);
});

test('consumed.yaml edited without a final newline still gets whole entries', async () => {
  const q = await queueWith('- a\n');
  await writeFile(path.join(q.dir, 'consumed.yaml'), '- old');
  await q.store.take(1);
  assert.equal(await q.consumed(), '- old\n- a\n');
});

test('consumed.yaml removed, replaced or edited during a run still gets every later entry (it is kept open between takes)', async () => {
  const q = await queueWith('- a\n- b\n- c\n- d\n');
  const consumedFile = path.join(q.dir, 'consumed.yaml');
  await q.store.take(1);
  await rm(consumedFile);
  await q.store.take(1);
  assert.equal(await q.consumed(), '- b\n');
  await writeFile(`${consumedFile}.new`, '- replaced');
  await rename(`${consumedFile}.new`, consumedFile);
  await q.store.take(1);
  assert.equal(await q.consumed(), '- replaced\n- c\n');
  await appendFile(consumedFile, '# note without a newline');
  await q.store.take(1);
  assert.equal(await q.consumed(), '- replaced\n- c\n# note without a newline\n- d\n');
});

test('concurrent takes within one process never hand out an entry twice', async () => {
  const q = await queueWith(Array.from({ length: 50 }, (_, i) => `- job ${i}\n`).join(''));
  const results = await Promise.all(Array.from({ length: 50 }, () => q.store.take(1)));
  const commands = results.flatMap((r) => r.jobs.map((j) => j.command)).sort();
  assert.equal(new Set(commands).size, 50);
  assert.equal(await q.queue(), '');
});

test('a line appended without the lock while a take has the file read (`echo >> queue.yaml` racing a daemon) is not lost', async () => {
  let file = '';
  let appended = false;
  // The check runs under the lock, after the queue file was read and before the new one is renamed in.
  const q = await queueWith('- echo one\n- echo two\n', () => {
    if (appended) return;
    appended = true;
    appendFileSync(file, '- echo late\n');
  });
  file = q.file;
  const taken = await q.store.take(1);
  assert.deepEqual(taken.jobs.map((j) => j.command), ['echo one']);
  assert.equal(await q.queue(), '- echo two\n- echo late\n');
});
