// Steering a running run from another terminal (issue 14): pegasus kill, pause, resume, and another user refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { liveInGroup, waitGroupGone } from '../helpers/procs.js';
import { testUser } from '../helpers/user.js';

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
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-steer-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return {
    dir,
    start: () => startPegasus(['q', '--plain', '--ssh-config', fleet.sshConfigPath], { cwd: dir }),
    pegasus: (...args: string[]) => runPegasus(args, { cwd: dir }),
    read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>'),
  };
}

// Two jobs that report their process group (setsid makes the job's shell its leader) once their tree exists.
const TWO = '- sleep 300 & sleep 301 & echo pgid-one=$$; wait\n- sleep 300 & sleep 302 & echo pgid-two=$$; wait\n';

for (const host of ['localhost', 'node1']) {
  test(`kill on ${host}: the killed job's tree is gone, the other runs on; failed.yaml says killed; --requeue puts a job back at the head`, async () => {
    const ws = await workspace(`- hostname: ${host}\n  s: [a, b]\n`, TWO);
    const run = ws.start();
    const one = Number((await run.stdout(/pgid-one=(\d+)/))[1]);
    const two = Number((await run.stdout(/pgid-two=(\d+)/))[1]);
    const number = Number((await run.stdout(/=== run sleep 300 & sleep 301 .* \(job (\d+)\) ===/))[1]);
    const other = number === 1 ? 2 : 1;
    const killed = await ws.pegasus('kill', String(number));
    assert.equal(killed.code, 0, killed.stderr);
    assert.match(killed.stdout, new RegExp(`killed job ${number} \\(run pid ${run.pid}\\); recorded in failed.yaml`));
    await run.stdout(/=== killed \([\d.]+s\) ===/);
    await waitGroupGone(one, AbortSignal.timeout(15_000));
    assert.ok((await liveInGroup(two)).length >= 3, 'the other job still runs as a whole tree');
    assert.match(await ws.read('failed.yaml'), /# failed on .*: killed, attempt 1.*\n- sleep 300 & sleep 301/);

    // Paused, so that the job put back stays at the head instead of being taken again at once.
    assert.equal((await ws.pegasus('pause')).code, 0);
    await run.stderr(/paused: no new jobs are taken/);
    const requeued = await ws.pegasus('kill', '--requeue', String(other));
    assert.equal(requeued.code, 0, requeued.stderr);
    await run.stdout(/=== killed \([\d.]+s\), job put back at the head of the queue ===/);
    await waitGroupGone(two, AbortSignal.timeout(15_000));
    assert.equal(await ws.read('queue.yaml'), '- sleep 300 & sleep 302 & echo pgid-two=$$; wait\n');
    assert.doesNotMatch(await ws.read('failed.yaml'), /sleep 302/);
    process.kill(run.pid, 'SIGTERM');
    assert.equal((await run.exited).code, 143);
  });
}

test('kill of an unknown or finished job: exit 2, a clear message, nothing changes', async () => {
  const ws = await workspace('- localhost\n', '- echo quick\n- sleep 300 & echo pgid=$$; wait\n');
  const run = ws.start();
  const pgid = Number((await run.stdout(/pgid=(\d+)/))[1]);
  for (const job of ['1', '9']) {
    const refused = await ws.pegasus('kill', job);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, new RegExp(`No running job ${job} on queue.yaml .*nothing was killed`));
  }
  assert.ok((await liveInGroup(pgid)).length >= 2);
  assert.equal(await ws.read('failed.yaml'), '<missing>');
  assert.equal((await ws.pegasus('kill', '2')).code, 0);
  await run.exited;
});

test('pause: the next job is not taken while paused (running one finishes); resume goes on', async () => {
  const ws = await workspace('- localhost\n', '');
  const gate = path.join(ws.dir, 'gate');
  execFileSync('mkfifo', [gate]);
  await writeFile(path.join(ws.dir, 'queue.yaml'), `- cat ${gate}\n- echo second\n`);
  const run = ws.start();
  await run.stdout(/=== run cat .*gate \(job 1\) ===/);
  const paused = await ws.pegasus('pause');
  assert.equal(paused.code, 0, paused.stderr);
  await run.stderr(/paused: no new jobs are taken until `pegasus resume`/);
  const status = await ws.pegasus('status');
  assert.match(status.stdout, /^ {2}paused: taking no jobs \(pegasus resume\)\n {2}job 1 runs on \[localhost\]$/m);
  await writeFile(gate, 'first\n');
  await run.stdout(/\[localhost\] first\n\[localhost\] === done \(exit 0/);
  // The job has ended and its sub-node looked for work: the queue still holds the next entry.
  const held = await ws.pegasus('pause', 'localhost');
  assert.equal(held.code, 0);
  assert.equal(await ws.read('queue.yaml'), '- echo second\n');
  assert.doesNotMatch(run.output().stdout, /echo second/);
  const resumed = await ws.pegasus('resume');
  assert.equal(resumed.code, 0, resumed.stderr);
  const result = await run.exited;
  assert.equal(result.code, 0);
  assert.match(result.stdout, /\[localhost\] second/);
  assert.equal(await ws.read('queue.yaml'), '');
});

test("another user's kill is refused (exit 2) and the job still runs", async () => {
  const user = await testUser();
  const ws = await workspace('- localhost\n', '- sleep 300 & echo pgid=$$; wait\n');
  await chmod(ws.dir, 0o755);
  const run = ws.start();
  const pgid = Number((await run.stdout(/pgid=(\d+)/))[1]);
  const refused = await runPegasus(['kill', '1'], { cwd: ws.dir, user: { uid: user.uid, gid: user.gid } });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /Cannot steer the run: .* belongs to another user: only the user who started a run can steer it/);
  assert.ok((await liveInGroup(pgid)).length >= 2, 'the job still runs');
  assert.equal((await ws.pegasus('kill', '1')).code, 0);
  await run.exited;
});

test('a stale socket of a dead run is ignored and removed; malformed requests get an error reply', async () => {
  const ws = await workspace('- localhost\n', '- sleep 300 & echo pgid=$$; wait\n');
  const run = ws.start();
  await run.stdout(/pgid=/);
  const control = path.join(ws.dir, '.pegasus', 'control');
  // A dead pid's socket file (nothing listens).
  execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind('${control}/999999.sock')`]);
  const reply = execFileSync('python3', [
    '-c',
    // One reader for both replies: a second makefile() would miss a reply the first one had buffered.
    `import socket; s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect('${control}/${run.pid}.sock'); s.sendall(b'not json\\n{"op":"nope"}\\n'); f=s.makefile(); print(f.readline().strip()); print(f.readline().strip())`,
  ], { timeout: 15_000 }).toString();
  assert.match(reply, /"ok":false,"error":"the request is not JSON"/);
  const killed = await ws.pegasus('kill', '1');
  assert.equal(killed.code, 0, killed.stderr);
  await run.exited;
  assert.throws(() => execFileSync('ls', [path.join(control, '999999.sock')], { stdio: 'ignore' }));
});

test('two runs on one queue: kill finds the run that holds the job; a number both hold is refused, --pid picks the run', async () => {
  const ws = await workspace('- localhost\n', '- sleep 300 & echo a1=$$; wait\n');
  await writeFile(path.join(ws.dir, 'two.yaml'), '- hostname: localhost\n  s: [x, y]\n');
  const first = ws.start();
  const a1 = Number((await first.stdout(/a1=(\d+)/))[1]);
  await writeFile(path.join(ws.dir, 'queue.yaml'), '- sleep 300 & echo b1=$$; wait\n- sleep 300 & echo b2=$$; wait\n');
  const second = startPegasus(['q', '--plain', '--hosts-file', 'two.yaml'], { cwd: ws.dir });
  const b1 = Number((await second.stdout(/b1=(\d+)/))[1]);
  const b2 = Number((await second.stdout(/b2=(\d+)/))[1]);
  const number2 = Number((await second.stdout(/=== run sleep 300 & echo b2=.* \(job (\d+)\) ===/))[1]);
  // Job 2 exists in the second run only.
  const killed = await ws.pegasus('kill', String(number2));
  assert.equal(killed.code, 0, killed.stderr);
  assert.match(killed.stdout, new RegExp(`killed job ${number2} \\(run pid ${second.pid}\\)`));
  await waitGroupGone(b2, AbortSignal.timeout(15_000));
  // Job 1 is in both: nothing is killed until --pid says which.
  const both = await ws.pegasus('kill', '1');
  assert.equal(both.code, 2);
  assert.match(both.stderr, new RegExp(`Job 1 is running in more than one run on this queue \\(pids (${first.pid}, ${second.pid}|${second.pid}, ${first.pid})\\); nothing was killed`));
  assert.ok((await liveInGroup(a1)).length >= 2 && (await liveInGroup(b1)).length >= 2);
  assert.equal((await ws.pegasus('kill', '--pid', String(first.pid), '1')).code, 0);
  await waitGroupGone(a1, AbortSignal.timeout(15_000));
  assert.ok((await liveInGroup(b1)).length >= 2, "the other run's job 1 still runs");
  assert.equal((await first.exited).code, 1);
  assert.equal((await ws.pegasus('kill', '1')).code, 0);
  assert.equal((await second.exited).code, 1);
});
