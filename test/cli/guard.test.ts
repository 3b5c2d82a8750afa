// The host guard (issue 7): one guard per connection stops jobs as trees, so a job costs no process beyond its own shell; hosts that cannot run it fall back to the per-job wrapper.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { runPegasus } from '../helpers/cli.js';
import { startFleet, TEST_USER, type Fleet } from '../helpers/fleet.js';
import { liveInGroup, waitNoneMatching } from '../helpers/procs.js';

const run = promisify(execFile);
const fleets: Fleet[] = [];
const dirs: string[] = [];
after(async () => {
  for (const fleet of fleets) await fleet.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function workspace(fleet: Fleet, hosts: string, queue: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-guard-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return {
    run: (...args: string[]) => runPegasus(['q', '--plain', '--ssh-config', fleet.sshConfigPath, ...args], { cwd: dir }),
    read: (name: string) => readFile(path.join(dir, name), 'utf8'),
  };
}

/** The guard fifos in /tmp that belong to the test user. */
async function guardFifos(): Promise<string[]> {
  const uid = Number((await run('id', ['-u', TEST_USER])).stdout.trim());
  const names = (await readdir('/tmp')).filter((n) => /^pegasus-guard\.\d+\.fifo$/.test(n));
  const owned = await Promise.all(names.map(async (n) => ((await stat(path.join('/tmp', n)).catch(() => undefined))?.uid === uid ? n : undefined)));
  return owned.filter((n): n is string => n !== undefined);
}

// Each job names the process that started its shell: sshd itself under the guard, the wrapper's sh without it.
const PARENT = '- command: echo job {{n}} parent=$(cat /proc/$PPID/comm)\n  n: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n';

test('under the guard a job is started by sshd itself, and after the run nothing of the guard is left on the host', async () => {
  const fleet = await startFleet({ hosts: 1 });
  fleets.push(fleet);
  const ws = await workspace(fleet, '- hostname: node1\n  slot: [0, 1]\n', PARENT);
  const before = new Set(await guardFifos());
  const result = await ws.run();
  assert.equal(result.code, 0, result.stderr);
  const parents = [...result.stdout.matchAll(/\] job \d+ parent=(\w+)$/gm)].map((m) => m[1]);
  assert.equal(parents.length, 10, result.stdout);
  assert.deepEqual([...new Set(parents)], ['sshd'], 'no wrapper process between sshd and the job');
  // The guard ends with the connection: its processes and its fifo are gone.
  await waitNoneMatching('pegasus-guard', AbortSignal.timeout(15_000));
  assert.deepEqual((await guardFifos()).filter((n) => !before.has(n)), []);
});

test('a host where the guard cannot start (no writable TMPDIR) runs its jobs in the per-job wrapper, which still stops a job as a tree', async () => {
  const fleet = await startFleet({ hosts: 1, sshdConfig: ['SetEnv TMPDIR=/nonexistent/pegasus-test'] });
  fleets.push(fleet);
  const ws = await workspace(fleet, '- node1\n', `${PARENT}- echo pgid=$$; sleep 300 & sleep 300; wait\n`);
  const result = await ws.run('--timeout', '2s');
  assert.equal(result.code, 1, result.stderr);
  const parents = [...result.stdout.matchAll(/\] job \d+ parent=(\w+)$/gm)].map((m) => m[1]);
  assert.equal(parents.length, 10, result.stdout);
  assert.deepEqual([...new Set(parents)], ['sh'], 'each job runs under the wrapper');
  assert.match(result.stdout, /^\[node1\] === timed out after [\d.]+s, stopped ===$/m);
  const pgid = Number(/pgid=(\d+)/.exec(result.stdout)?.[1]);
  assert.deepEqual(await liveInGroup(pgid), []);
});

test('a host whose sshd allows one session per connection (MaxSessions 1) gives the guard\'s session to the jobs: they run in the per-job wrapper and still stop as trees', async () => {
  const fleet = await startFleet({ hosts: 1, sshdConfig: ['MaxSessions 1'] });
  fleets.push(fleet);
  const ws = await workspace(fleet, '- hostname: node1\n  slot: [0, 1]\n', `${PARENT}- echo pgid=$$; sleep 300 & sleep 300; wait\n`);
  // --retries 0: a refused channel counted as a job failure would fail its job outright.
  const result = await ws.run('--timeout', '2s', '--retries', '0');
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /^pegasus: 11 jobs run, 10 succeeded, 1 failed/m, 'only the job that timed out failed');
  const parents = [...result.stdout.matchAll(/\] job \d+ parent=(\w+)$/gm)].map((m) => m[1]);
  assert.equal(parents.length, 10, result.stdout);
  assert.deepEqual([...new Set(parents)], ['sh'], 'each job runs under the wrapper');
  assert.match(result.stdout, /^\[node1 \(slot=\d\)\] === timed out after [\d.]+s, stopped ===$/m);
  const pgid = Number(/pgid=(\d+)/.exec(result.stdout)?.[1]);
  assert.deepEqual(await liveInGroup(pgid), []);
  assert.doesNotMatch(result.stderr, /refused|reconnect|unreachable/);
});
