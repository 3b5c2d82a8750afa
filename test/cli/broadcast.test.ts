// `pegasus b` against real sshd hosts: every job on every sub-node in lockstep, -e stops at the first failure.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runPegasus } from '../helpers/cli.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';

let fleet: Fleet;
const dirs: string[] = [];
before(async () => {
  fleet = await startFleet({ hosts: 2 });
});
after(async () => {
  await fleet.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function workspace(hosts: string, queue: (dir: string) => string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-bcast-'));
  dirs.push(dir);
  await chmod(dir, 0o777); // the jobs run as the fleet's (non-root) user and write here
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue(dir));
  const config = path.join(dir, 'ssh_config');
  // deadhost: nothing listens on port 1, so it is refused.
  await writeFile(config, `${await readFile(fleet.sshConfigPath, 'utf8')}\nHost deadhost\n  HostName 127.0.0.2\n  Port 1\n  User root\n`);
  return { dir, run: (...args: string[]) => runPegasus(['b', '--ssh-config', config, ...args], { cwd: dir }), queue: () => readFile(path.join(dir, 'queue.yaml'), 'utf8') };
}

// Job 2 fails on node2 only, after a pause; job 3 on node1 checks that node2 had finished job 2 (the barrier).
const QUEUE = (dir: string) =>
  [
    `- echo one on {{hostname}}`,
    `- sleep 0.5; touch ${dir}/two-{{hostname}}; test {{hostname}} != node2`,
    `- test -e ${dir}/two-node2 && echo three on {{hostname}}`,
    '',
  ].join('\n');

test('without -e: every job runs on every sub-node in lockstep; a failure on one host is reported and the run goes on (exit 1)', async () => {
  const ws = await workspace('- node1\n- node2\n', QUEUE);
  const result = await ws.run();
  assert.equal(result.code, 1, result.stderr);
  for (const host of ['node1', 'node2']) {
    assert.match(result.stdout, new RegExp(`^\\[${host}\\] one on ${host}$`, 'm'));
    assert.match(result.stdout, new RegExp(`^\\[${host}\\] three on ${host}$`, 'm'), `job 3 ran on ${host} after the barrier`);
  }
  assert.match(result.stderr, /broadcast 3 jobs to 2 of 2 sub-nodes/);
  assert.match(result.stderr, /^ {2}job +node1 +node2$/m);
  assert.match(result.stderr, /^ {2}1\. echo one on \{\{hostname\}\} +ok +ok$/m);
  assert.match(result.stderr, /^ {2}2\. sleep 0\.5; .* +ok +exit 1$/m);
  assert.match(result.stderr, /^ {2}3\. test -e .* +ok +ok$/m);
  assert.equal(await ws.queue(), '');
});

test('with -e: the first failure stops the broadcast; the next job stays in the queue', async () => {
  const ws = await workspace('- node1\n- node2\n', QUEUE);
  const result = await ws.run('-e');
  assert.equal(result.code, 1);
  assert.doesNotMatch(result.stdout, /three on/);
  assert.match(result.stderr, /^ {2}2\. sleep 0\.5; .* +ok +exit 1$/m);
  assert.match(result.stderr, /aborted after job 2 failed \(-e\); the rest of the queue is untouched/);
  assert.match(await ws.queue(), /^- test -e .*two-node2 && echo three on \{\{hostname\}\}\n$/);
});

test('an unreachable sub-node: reported and left out without -e; with -e nothing is taken from the queue', async () => {
  const plain = await workspace('- node1\n- deadhost\n', () => '- echo hi from {{hostname}}\n');
  const ran = await plain.run();
  assert.equal(ran.code, 1);
  assert.match(ran.stdout, /^\[node1\] hi from node1$/m);
  assert.match(ran.stderr, /host deadhost: cannot connect to deadhost: 127\.0\.0\.2:1 refused the connection/);
  assert.match(ran.stderr, /unreachable at start, so the broadcast ran without them: deadhost/);

  const strict = await workspace('- node1\n- deadhost\n', () => '- echo hi from {{hostname}}\n');
  const aborted = await strict.run('-e');
  assert.equal(aborted.code, 1);
  assert.doesNotMatch(aborted.stdout, /hi from/);
  assert.match(aborted.stderr, /aborted before taking any job \(-e\): unreachable at start: deadhost/);
  assert.equal(await strict.queue(), '- echo hi from {{hostname}}\n');
});

test('a parametrized entry expands into jobs that are each broadcast in turn', async () => {
  const ws = await workspace('- node1\n- node2\n', () => '- command: echo {{x}} on {{hostname}}\n  x: [a, b]\n');
  const result = await ws.run();
  assert.equal(result.code, 0, result.stderr);
  for (const x of ['a', 'b']) for (const host of ['node1', 'node2']) assert.match(result.stdout, new RegExp(`^\\[${host}\\] ${x} on ${host}$`, 'm'));
  assert.match(result.stderr, /broadcast 2 jobs to 2 of 2 sub-nodes/);
});
