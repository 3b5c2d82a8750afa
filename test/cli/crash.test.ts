// Crash recovery: SIGKILL pegasus at random moments and restart it; every entry ends up run, queued, or reported.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function workspace(queue: string, hosts = '- hostname: localhost\n  slot: [0, 1]\n') {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-crash-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return { dir, read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '') };
}

/** A small deterministic PRNG, so a failing run can be replayed. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test('killed with SIGKILL at random moments and restarted with --requeue-interrupted: no entry vanishes', async () => {
  const count = 150;
  const ws = await workspace(Array.from({ length: count }, (_, i) => `- echo ${i} >> ran.txt\n`).join(''));
  const random = rng(7);
  let kills = 0;
  for (let round = 0; round < 40; round++) {
    const pegasus = startPegasus(['q', '--requeue-interrupted'], { cwd: ws.dir });
    const target = 3 + Math.floor(random() * 20);
    const done = pegasus.stdoutUntil((text) => (text.match(/=== done/g)?.length ?? 0) >= target);
    const finished = await Promise.race([done.then(() => false), pegasus.exited.then(() => true)]);
    if (!finished) {
      process.kill(pegasus.pid, 'SIGKILL');
      kills += 1;
    }
    const result = await pegasus.exited;
    if (finished) {
      assert.equal(result.code, 0, result.stderr);
      break;
    }
  }
  assert.ok(kills >= 3, `killed ${kills} times`);
  const ran = (await ws.read('ran.txt')).trim().split('\n').map(Number);
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !ran.includes(i));
  assert.deepEqual(missing, [], 'every entry ran');
  assert.equal(await ws.read('queue.yaml'), '');
  // A job may run twice (it finished just as pegasus was killed), never more than once per kill.
  const extra = ran.length - count;
  assert.ok(extra <= kills * 2, `${extra} reruns for ${kills} kills`);
});

test('without --requeue-interrupted, jobs of a killed run are reported (and stay reported) until requeued', async () => {
  // One sub-node: only the running job is taken when pegasus is killed.
  const ws = await workspace('- echo started; sleep 300\n- echo next\n', '- localhost\n');
  const pegasus = startPegasus(['q'], { cwd: ws.dir });
  await pegasus.stdout(/^\[localhost\] started$/m);
  process.kill(pegasus.pid, 'SIGKILL');
  await pegasus.exited;
  await writeFile(path.join(ws.dir, 'queue.yaml'), '');
  const report = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(report.code, 0);
  assert.match(report.stderr, /1 job taken by an earlier run that died never finished \(they are in consumed\.yaml\):\n {2}\[localhost\] echo started; sleep 300 \(pid \d+\)\n/);
  assert.match(report.stderr, /run with --requeue-interrupted/);
  const requeue = await runPegasus(['q', '--requeue-interrupted', '--timeout', '1s'], { cwd: ws.dir });
  assert.match(requeue.stderr, /put 1 job that an earlier run took and never finished back at the head of the queue/);
  assert.match(requeue.stdout, /=== run echo started; sleep 300 \(job 1\) ===/);
  const quiet = await runPegasus(['q'], { cwd: ws.dir });
  assert.doesNotMatch(quiet.stderr, /never finished/);
});
