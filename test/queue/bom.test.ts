// Queue files saved by Windows editors (issue 13, finding 5): a UTF-8 byte order mark stays at byte 0 through every rewrite; CRLF files pop byte for byte.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseHosts } from '../../src/config/hosts.js';
import { parseQueue } from '../../src/config/jobs.js';
import { ConfigError } from '../../src/errors.js';
import { countEntries } from '../../src/queue/count.js';
import { itemsFromText } from '../../src/queue/push.js';
import { QueueStore, queueFilesOf } from '../../src/queue/store.js';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp.js';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const dirs: string[] = [];
const stores: QueueStore[] = [];
after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  for (const dir of dirs) await removeTmpDir(dir);
});

async function queueWith(bytes: Buffer) {
  const dir = await makeTmpDir('pegasus-bom-');
  dirs.push(dir);
  const file = path.join(dir, 'queue.yaml');
  await writeFile(file, bytes);
  const store = new QueueStore(queueFilesOf(file), { check: () => undefined });
  stores.push(store);
  return { store, file, bytes: () => readFile(file), consumed: () => readFile(path.join(dir, 'consumed.yaml'), 'utf8') };
}

const withBom = (text: string): Buffer => Buffer.concat([BOM, Buffer.from(text)]);

test('a pop keeps the BOM at byte 0 and the rest byte for byte', async () => {
  const q = await queueWith(withBom('- echo one\n# two\n- echo two   # why\n'));
  const taken = await q.store.take(1);
  assert.deepEqual(taken.jobs.map((j) => j.command), ['echo one']);
  assert.deepEqual(await q.bytes(), withBom('# two\n- echo two   # why\n'));
  assert.equal(await q.consumed(), '- echo one\n');
  // Draining leaves only the BOM and the comments; appending to it keeps working.
  await q.store.take(5);
  assert.deepEqual(await q.bytes(), withBom('# two\n'));
});

test('a BOM before comments, and the burst of a parametrized head written back after it', async () => {
  const q = await queueWith(withBom('# sweep\n- command: echo {{x}}\n  x: [a, b]\n- echo after\n'));
  assert.deepEqual((await q.store.take(1)).jobs[0]?.params, [['x', 'a']]);
  assert.deepEqual(await q.bytes(), withBom('# sweep\n- command: echo {{x}}\n  x: b\n- echo after\n'));
  const bom = await queueWith(withBom('- command: echo {{x}}\n  x: [a, b]\n'));
  await bom.store.take(1);
  assert.deepEqual(await bom.bytes(), withBom('- command: echo {{x}}\n  x: b\n'));
});

test('putBack, push --front and a push to the end keep the BOM at byte 0', async () => {
  const q = await queueWith(withBom('- a\n- b\n'));
  const { jobs } = await q.store.take(1);
  await q.store.putBack(jobs);
  assert.deepEqual(await q.bytes(), withBom('- a\n- b\n'));
  await q.store.add('- front\n', { front: true });
  await q.store.add('- end\n', { front: false });
  assert.deepEqual(await q.bytes(), withBom('- front\n- a\n- b\n- end\n'));
  const empty = await queueWith(BOM);
  await empty.store.add('- only\n', { front: true });
  assert.deepEqual(await empty.bytes(), withBom('- only\n'));
});

test('a flow-style queue with a BOM (the full-parse path) keeps it too', async () => {
  const q = await queueWith(withBom('[a, b]\n'));
  assert.equal((await q.store.take(1)).jobs[0]?.command, 'a');
  const after = await q.bytes();
  assert.deepEqual(after.subarray(0, 3), BOM);
  assert.equal(after.subarray(3).toString().trim(), '[ b ]');
  await q.store.putBack((await q.store.take(1)).jobs);
  assert.deepEqual((await q.bytes()).subarray(0, 3), BOM);
});

test('positions in errors count from the first character after the BOM', async () => {
  const q = await queueWith(withBom('- cmd: oops\n'));
  const taken = await q.store.take(1);
  assert.ok(taken.error instanceof ConfigError);
  assert.match(taken.error.describe(), /queue\.yaml:1:3: A queue entry has no `command` key/);
  const text = '\uFEFF- echo ok\n- command: [x\n';
  assert.throws(() => parseQueue(text, 'queue.yaml'), (error: ConfigError) => /^queue\.yaml:3:1: /.test(error.describe()));
  assert.throws(
    () => parseQueue('\uFEFFcommand: x\n', 'queue.yaml'),
    (error: ConfigError) => /must be a list/.test(error.message),
  );
  // A bad column on line 1 is where the user sees it (as without the BOM), not one further.
  for (const bad of ['- a: b: c\n', '- "unclosed\n', '- [x\n- y\n']) {
    const plain = describeError(() => parseQueue(bad, 'queue.yaml'));
    assert.match(plain, /^queue\.yaml:\d+:\d+: /);
    assert.equal(describeError(() => parseQueue(`\uFEFF${bad}`, 'queue.yaml')), plain);
  }
});

function describeError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.describe();
    throw error;
  }
  return 'no error';
}

test('hosts.yaml, push text and the entry count accept a BOM', () => {
  assert.deepEqual(parseHosts('\uFEFF- hostname: localhost\n  gpu: [0, 1]\n', 'hosts.yaml').map((s) => s.label), ['localhost (gpu=0)', 'localhost (gpu=1)']);
  assert.equal(parseQueue('\uFEFF- echo a\n- echo b\n', 'queue.yaml').length, 2);
  assert.equal(countEntries('\uFEFF- echo a\n- echo b\n'), 2);
  const pushed = itemsFromText('\uFEFF# more\n- echo c\n', 'more.yaml', () => undefined);
  assert.equal(pushed.items, '# more\n- echo c\n', 'no BOM in the middle of the queue');
});

test('CRLF line endings: a pop takes the head and keeps the rest byte for byte, CRs included', async () => {
  const rest = '# two\r\n- echo two\r\n\r\n- command: echo {{x}}\r\n  x: [a, b]\r\n';
  const q = await queueWith(Buffer.from(`- echo one\r\n${rest}`));
  assert.deepEqual((await q.store.take(1)).jobs.map((j) => j.command), ['echo one']);
  assert.deepEqual(await q.bytes(), Buffer.from(rest));
  assert.deepEqual((await q.store.take(1)).jobs.map((j) => j.command), ['echo two']);
  assert.deepEqual(await q.bytes(), Buffer.from('# two\r\n\r\n- command: echo {{x}}\r\n  x: [a, b]\r\n'));
  assert.equal(await q.consumed(), '- echo one\n- echo two\n');
  const crlfBom = await queueWith(withBom('- echo one\r\n- echo two\r\n'));
  await crlfBom.store.take(1);
  assert.deepEqual(await crlfBom.bytes(), withBom('- echo two\r\n'));
});

test('CRLF line endings: a burst written back, a put-back and an appended entry use CRLF too, so the file keeps one kind of line ending', async () => {
  const q = await queueWith(Buffer.from('- command: echo {{x}}\r\n  x: [a, b]\r\n- echo last\r\n'));
  assert.deepEqual((await q.store.take(1)).jobs.map((j) => j.command), ['echo {{x}}']);
  assert.deepEqual(await q.bytes(), Buffer.from('- command: echo {{x}}\r\n  x: b\r\n- echo last\r\n'));
  await q.store.putBack([{ command: 'echo again', params: [], place: { file: q.file } }]);
  await q.store.add('- echo appended\n', { front: false });
  const text = (await q.bytes()).toString('utf8');
  assert.equal(text, '- echo again\r\n- command: echo {{x}}\r\n  x: b\r\n- echo last\r\n- echo appended\r\n');
  assert.doesNotMatch(text, /[^\r]\n/, 'no bare LF');
});
