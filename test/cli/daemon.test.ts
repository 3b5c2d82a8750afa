// `pegasus q --daemon` on localhost: waits for the queue to change (every kind of save), survives a broken or deleted file.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { startPegasus } from '../helpers/cli.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

test('the daemon picks up appended, rewritten and renamed-over entries, reports a broken file once and resumes when it is fixed', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-daemon-'));
  dirs.push(dir);
  const queue = path.join(dir, 'queue.yaml');
  await writeFile(path.join(dir, 'hosts.yaml'), '- localhost\n');
  await writeFile(queue, '# the queue\n');
  const pegasus = startPegasus(['q', '--daemon'], { cwd: dir });
  try {
    await pegasus.stderr(/queue\.yaml is empty; waiting for new entries/);

    await appendFile(queue, '- echo appended-one\n'); // cat >> queue.yaml
    await pegasus.stdout(/^\[localhost\] appended-one$/m);

    await writeFile(queue, '# the queue\n- echo truncated-and-written\n'); // truncate, then write
    await pegasus.stdout(/^\[localhost\] truncated-and-written$/m);

    await writeFile(path.join(dir, '.queue.yaml.swp'), '# the queue\n- echo renamed-over\n'); // editors that save by rename
    await rename(path.join(dir, '.queue.yaml.swp'), queue);
    await pegasus.stdout(/^\[localhost\] renamed-over$/m);

    // A typo while the daemon waits: reported once with file:line, nothing in the file touched.
    const broken = '# the queue\n- command: [echo fixed\n';
    await writeFile(queue, broken);
    await pegasus.stderr(/queue\.yaml:3:1: queue\.yaml is not valid YAML[\s\S]*waiting for the queue file to be fixed/);
    assert.equal(await readFile(queue, 'utf8'), broken);
    await writeFile(queue, '# the queue\n- echo fixed\n');
    await pegasus.stdout(/^\[localhost\] fixed$/m);
    assert.equal(pegasus.output().stderr.match(/is not valid YAML/g)?.length, 1, 'reported once');

    // Deleted: the daemon says so and waits for it to come back.
    await unlink(queue);
    await pegasus.stderr(/queue\.yaml does not exist \(deleted\?\); waiting for it to come back/);
    await writeFile(queue, '- echo back-again\n');
    await pegasus.stdout(/^\[localhost\] back-again\n\[localhost\] === done/m);
  } finally {
    process.kill(pegasus.pid, 'SIGINT');
  }
  const result = await pegasus.exited;
  assert.equal(result.code, 130);
  assert.match(result.stderr, /5 jobs run, 5 succeeded/);
  assert.equal(
    await readFile(path.join(dir, 'consumed.yaml'), 'utf8'),
    '- echo appended-one\n- echo truncated-and-written\n- echo renamed-over\n- echo fixed\n- echo back-again\n',
  );
});
