// Stopping and killing: Ctrl-C once drains, twice cancels; SIGTERM cancels; a SIGKILLed pegasus leaves no job behind, locally or over SSH.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startPegasus } from '../helpers/cli.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { liveInGroup, liveMatching, waitGroupGone, waitNoneMatching } from '../helpers/procs.js';

let fleet: Fleet;
let rootFleet: Fleet;
const dirs: string[] = [];
before(async () => {
  fleet = await startFleet({ hosts: 1 });
  rootFleet = await startFleet({ hosts: 1, user: 'root' });
});
after(async () => {
  await fleet.stop();
  await rootFleet.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function workspace(hosts: string, queue: string, sshConfig = () => fleet.sshConfigPath) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-cancel-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  const start = () => startPegasus(['q', '--ssh-config', sshConfig()], { cwd: dir });
  return { dir, start, read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>') };
}

// The job reports its process group (setsid makes its shell the leader) once its tree exists: both
// background children are forked before the echo runs.
const TREE = '- sleep 300 & sleep 300 & echo pgid=$$; wait\n- echo next\n';

test('first Ctrl-C: no new job is taken, the running one finishes, exit 130; the queue keeps the rest', async () => {
  const ws = await workspace('- localhost\n', '');
  execFileSync('mkfifo', [path.join(ws.dir, 'go')]);
  await writeFile(path.join(ws.dir, 'queue.yaml'), `- echo started; cat ${ws.dir}/go\n- echo never\n`);
  const pegasus = ws.start();
  await pegasus.stdout(/^\[localhost\] started$/m);
  process.kill(pegasus.pid, 'SIGINT');
  await pegasus.stderr(/stopping: no new jobs will be taken; waiting for 1 running job to finish\. Press Ctrl-C again to cancel it\.\n {2}\[localhost\] echo started; cat .*go \(running for [\d.]+s\)/);
  await writeFile(path.join(ws.dir, 'go'), 'finish\n');
  const result = await pegasus.exited;
  assert.equal(result.code, 130);
  assert.match(result.stdout, /^\[localhost\] finish\n\[localhost\] === done \(exit 0, [\d.]+s\) ===$/m);
  assert.doesNotMatch(result.stdout, /=== run echo never/);
  assert.equal(await ws.read('queue.yaml'), '- echo never\n');
});

test('second Ctrl-C: the running job is cancelled as a tree and goes back to the head of the queue', async () => {
  const ws = await workspace('- localhost\n', TREE);
  const pegasus = ws.start();
  const pgid = Number((await pegasus.stdout(/pgid=(\d+)/))[1]);
  process.kill(pegasus.pid, 'SIGINT');
  await pegasus.stderr(/Press Ctrl-C again/);
  process.kill(pegasus.pid, 'SIGINT');
  const result = await pegasus.exited;
  assert.equal(result.code, 130);
  assert.match(result.stderr, /cancelling 1 running job; it goes back to the head of the queue/);
  assert.deepEqual(await liveInGroup(pgid), []);
  assert.equal(await ws.read('queue.yaml'), TREE);
});

for (const user of ['non-root', 'root'] as const) {
  test(`SIGTERM cancels a remote job as a whole tree for a ${user} login (sshd ignores signals for root) and exits 143`, async () => {
    const ws = await workspace('- node1\n', TREE, () => (user === 'root' ? rootFleet : fleet).sshConfigPath);
    const pegasus = ws.start();
    const pgid = Number((await pegasus.stdout(/pgid=(\d+)/))[1]);
    assert.ok((await liveInGroup(pgid)).length >= 3, 'the job tree runs on the host');
    process.kill(pegasus.pid, 'SIGTERM');
    const result = await pegasus.exited;
    assert.equal(result.code, 143);
    assert.deepEqual(await liveInGroup(pgid), [], 'nothing of the job is left on the host');
    assert.match(result.stdout, /^\[node1\] === cancelled \([\d.]+s\), job put back at the head of the queue ===$/m);
    assert.equal(await ws.read('queue.yaml'), TREE);
  });
}

for (const host of ['node1', 'localhost']) {
  test(`pegasus killed with SIGKILL: the job on ${host} is stopped as a tree, nothing is left running`, async () => {
    const ws = await workspace(`- ${host}\n`, '');
    // The job's text names the workspace, so every process of it (wrapper included) can be found by it.
    const marker = `${ws.dir}/marker`;
    await writeFile(path.join(ws.dir, 'queue.yaml'), `- sleep 300 & sleep 300 & echo pgid=$$; wait; echo ${marker}\n- echo next\n`);
    const pegasus = ws.start();
    const pgid = Number((await pegasus.stdout(/pgid=(\d+)/))[1]);
    assert.ok((await liveMatching(marker)).length > 0);
    process.kill(pegasus.pid, 'SIGKILL');
    await pegasus.exited;
    // The connection (or pipe) closes with the process; the wrapper sees EOF and kills the group,
    // then cleans up after itself.
    await waitGroupGone(pgid, AbortSignal.timeout(15_000));
    await waitNoneMatching(marker, AbortSignal.timeout(15_000));
    // The job was recorded before it started: it is in consumed.yaml, and the queue holds the rest.
    assert.equal(await ws.read('queue.yaml'), '- echo next\n');
    assert.match(await ws.read('consumed.yaml'), /sleep 300 & sleep 300 & echo pgid=\$\$; wait/);
  });
}
