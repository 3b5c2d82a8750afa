// Timeouts, --fail-fast and failed.yaml: a job that runs too long is stopped as a tree; failures are kept for a rerun.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runPegasus } from '../helpers/cli.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { liveInGroup } from '../helpers/procs.js';

let fleet: Fleet;
const dirs: string[] = [];
before(async () => {
  fleet = await startFleet({ hosts: 1 });
});
after(async () => {
  await fleet.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function workspace(hosts: string, queue: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-faults-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return {
    dir,
    run: (...args: string[]) => runPegasus(['q', '--ssh-config', fleet.sshConfigPath, ...args], { cwd: dir }),
    read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>'),
  };
}

for (const host of ['node1', 'localhost']) {
  test(`--timeout stops a job on ${host} as a whole tree and reports it as timed out`, async () => {
    const ws = await workspace(`- ${host}\n`, '- echo pgid=$$; sleep 300 & sleep 300; wait\n- echo after\n');
    const result = await ws.run('--timeout', '1s');
    assert.equal(result.code, 1);
    const pgid = Number(/pgid=(\d+)/.exec(result.stdout)?.[1]);
    assert.deepEqual(await liveInGroup(pgid), []);
    assert.match(result.stdout, new RegExp(`^\\[${host}\\] === timed out after [\\d.]+s, stopped ===$`, 'm'));
    assert.match(result.stdout, new RegExp(`^\\[${host}\\] after$`, 'm'), 'the run goes on');
    assert.match(result.stderr, /FAILED \[.*\] timed out after/);
    assert.match(await ws.read('failed.yaml'), new RegExp(`^# failed on ${host}: timed out, attempt 1, \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\n- echo pgid=\\$\\$; sleep 300 & sleep 300; wait\\n$`));
  });
}

test('an entry\'s own `timeout` is a reserved key: not a template variable, kept in canonical form', async () => {
  const ws = await workspace('- localhost\n', '- command: sleep {{n}}\n  n: [5]\n  timeout: 500ms\n- command: echo quick\n  timeout: 1m\n');
  const result = await ws.run();
  assert.equal(result.code, 1);
  assert.match(result.stdout, /^\[localhost\] === timed out after/m);
  assert.match(result.stdout, /^\[localhost\] quick$/m);
  assert.equal(await ws.read('consumed.yaml'), '- command: sleep {{n}}\n  n: 5\n  timeout: 500ms\n- command: echo quick\n  timeout: 1m\n');
});

test('a bad `timeout` value is a configuration error naming the entry', async () => {
  const ws = await workspace('- localhost\n', '- command: echo x\n  timeout: soon\n');
  const result = await ws.run();
  assert.equal(result.code, 2);
  assert.match(result.stderr, /queue\.yaml:2:3: A queue entry's `timeout` is `soon`, which is not one duration/);
});

test('--fail-fast: no job is taken after the first failure; the rest stays queued; exit 1', async () => {
  const ws = await workspace('- localhost\n', '- echo one\n- exit 4\n- echo three\n');
  const result = await ws.run('--fail-fast');
  assert.equal(result.code, 1);
  assert.doesNotMatch(result.stdout, /=== run echo three/);
  assert.equal(await ws.read('queue.yaml'), '- echo three\n');
});

test('failed jobs land in failed.yaml in canonical form; appending it to the queue reruns them', async () => {
  const ws = await workspace('- localhost\n', `- command: test -e ${'{{dir}}'}/ok-{{n}}\n  dir: DIR\n  n: [1, 2]\n`);
  await writeFile(path.join(ws.dir, 'queue.yaml'), (await ws.read('queue.yaml')).replace('DIR', ws.dir));
  await writeFile(path.join(ws.dir, 'ok-1'), '');
  const first = await ws.run();
  assert.equal(first.code, 1);
  const failed = await ws.read('failed.yaml');
  assert.match(failed, /^# failed on localhost: exit 1, attempt 1, .*\n- command: test -e \{\{dir\}\}\/ok-\{\{n\}\}\n {2}dir: .*\n {2}n: 2\n$/);
  await writeFile(path.join(ws.dir, 'ok-2'), '');
  await appendFile(path.join(ws.dir, 'queue.yaml'), failed); // cat failed.yaml >> queue.yaml
  const rerun = await ws.run();
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stderr, /1 job run, 1 succeeded/);
});

test('--retry-failed retries a job that exits non-zero (up to --retries); without it the job fails once', async () => {
  // The job fails the first time (it leaves a mark) and succeeds the second.
  const job = (dir: string) => `- if [ -e ${dir}/mark ]; then echo second-try; else touch ${dir}/mark; exit 5; fi\n`;
  const plain = await workspace('- localhost\n', '');
  await writeFile(path.join(plain.dir, 'queue.yaml'), job(plain.dir));
  const once = await plain.run();
  assert.equal(once.code, 1);
  assert.match(once.stderr, /1 job run, 0 succeeded, 1 failed/);

  const retrying = await workspace('- localhost\n', '');
  await writeFile(path.join(retrying.dir, 'queue.yaml'), job(retrying.dir));
  const twice = await retrying.run('--retry-failed', '--retries', '1');
  assert.equal(twice.code, 0, twice.stderr);
  assert.match(twice.stdout, /=== done \(exit 5, [\d.]+s\), will be retried on the next free sub-node ===/);
  assert.match(twice.stdout, /, attempt 2\) ===\n\[localhost\] second-try$/m);
  assert.match(twice.stderr, /1 job needed more than one attempt/);
  assert.equal(await retrying.read('failed.yaml'), '<missing>');
});
