// Stopping, or ending, while a host is silent (its sshd frozen): bounded, the job put back and reported, the connection dropped, the process gone.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startPegasus, type RunningPegasus } from '../helpers/cli.js';
import { startFleet, type Fleet } from '../helpers/fleet.js';
import { waitGone, waitGroupGone } from '../helpers/procs.js';
import { freezeSshd, killUnlessExited, within, type Frozen } from '../helpers/silent.js';

let fleet: Fleet;
const dirs: string[] = [];
before(async () => {
  fleet = await startFleet({ hosts: 2 });
});
after(async () => {
  await fleet.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Each host gets one of the two jobs; both print their process group and wait. */
const JOBS = '- command: echo pgid=$$ on {{hostname}} job {{n}}; sleep 300\n  n: [a, b]\n- echo later\n';
/** How long a test waits for pegasus to end once it should: far above the bound it promises (keepalive + a few seconds). */
const PATIENCE_MS = 60_000;

interface Case {
  readonly mode: 'q' | 'b';
  /** Extra ssh config lines: short keepalives keep some tests short (the default is tested too). */
  readonly keepalive: string;
}

async function workspace(c: Case, queue: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-silent-'));
  dirs.push(dir);
  await chmod(dir, 0o777); // jobs run as the fleet's non-root user and may write here
  await writeFile(path.join(dir, 'hosts.yaml'), '- node1\n- node2\n');
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  const config = path.join(dir, 'ssh_config');
  await writeFile(config, `${c.keepalive}${await readFile(fleet.sshConfigPath, 'utf8')}`);
  return {
    dir,
    start: () => startPegasus([c.mode, '--ssh-config', config], { cwd: dir }),
    queue: () => readFile(path.join(dir, 'queue.yaml'), 'utf8'),
  };
}

/** One job of JOBS in canonical form, as it is put back. */
const entry = (n: string): string => `- command: echo pgid=$$ on {{hostname}} job {{n}}; sleep 300\n  n: ${n}\n`;

/** The queue after both jobs of JOBS were put back: node2 confirmed at once and went back first, node1's job later, so it is at the very head. */
const requeued = (node1Job: string): string => `${entry(node1Job)}${entry(node1Job === 'a' ? 'b' : 'a')}- echo later\n`;

/** Runs `body` with pegasus started on JOBS and node1 frozen once both jobs run; always thaws node1 and ends pegasus. */
async function withFrozenJob(c: Case, body: (p: RunningPegasus, pgid: number, node1Job: string, frozen: Frozen) => Promise<void>): Promise<void> {
  const ws = await workspace(c, JOBS);
  const pegasus = ws.start();
  const cleanup = killUnlessExited(pegasus);
  let frozen: Frozen | undefined;
  try {
    const [, pgid, node1Job] = await pegasus.stdout(/pgid=(\d+) on node1 job ([ab])/);
    await pegasus.stdout(/pgid=\d+ on node2/);
    frozen = await freezeSshd(fleet.hosts[0]!);
    await body(pegasus, Number(pgid), node1Job!, frozen);
    assert.equal(await ws.queue(), requeued(node1Job!));
  } finally {
    cleanup();
    frozen?.thaw();
  }
}

/** What every stop with a silent host shows: the exit code, node1's job reported as not confirmed stopped, the process gone, the job stopped on the host once it thaws. */
async function assertStopped(pegasus: RunningPegasus, pgid: number, frozen: Frozen, code: number): Promise<string> {
  const result = await within(pegasus.exited, AbortSignal.timeout(PATIENCE_MS), `pegasus was still running ${PATIENCE_MS / 1000} s after it was told to stop`);
  assert.equal(result.code, code, result.stderr);
  // Queue mode says "job put back" on the job's line; broadcast puts the whole job back after the round.
  assert.match(result.stdout, /^\[node1\] === cancelled after [\d.]+s, not confirmed stopped: the connection to node1 was lost \(no answer for \d+s\)(, job put back at the head of the queue)? ===$/m);
  assert.match(result.stderr, /^ {2}the job on node1 could not be confirmed stopped: the connection to node1 was lost \(no answer for \d+s\); the host stops it by itself once it notices pegasus is gone\.$/m);
  await waitGone([pegasus.pid], AbortSignal.timeout(5000));
  frozen.thaw();
  await waitGroupGone(pgid, AbortSignal.timeout(40_000));
  return result.stdout;
}

test('SIGTERM while a host is silent (default keepalive): exit 143 in bounded time, its job reported and back at the head of the queue', async () => {
  await withFrozenJob({ mode: 'q', keepalive: '' }, async (pegasus, pgid, _job, frozen) => {
    process.kill(pegasus.pid, 'SIGTERM');
    await assertStopped(pegasus, pgid, frozen, 143);
  });
});

test('second Ctrl-C while a host is silent: exit 130, its job reported and back at the head of the queue', async () => {
  await withFrozenJob({ mode: 'q', keepalive: 'Host *\n  ServerAliveInterval 1\n  ServerAliveCountMax 3\n\n' }, async (pegasus, pgid, _job, frozen) => {
    process.kill(pegasus.pid, 'SIGINT');
    await pegasus.stderr(/Press Ctrl-C again/);
    process.kill(pegasus.pid, 'SIGINT');
    await assertStopped(pegasus, pgid, frozen, 130);
  });
});

test('broadcast: SIGTERM while a host is silent: exit 143, the job reported and back at the head of the queue', async () => {
  const c: Case = { mode: 'b', keepalive: 'Host *\n  ServerAliveInterval 1\n  ServerAliveCountMax 3\n\n' };
  const ws = await workspace(c, '- echo pgid=$$ on {{hostname}}; sleep 300\n- echo later\n');
  const pegasus = ws.start();
  const cleanup = killUnlessExited(pegasus);
  let frozen: Frozen | undefined;
  try {
    const pgid = Number((await pegasus.stdout(/pgid=(\d+) on node1/))[1]);
    await pegasus.stdout(/pgid=\d+ on node2/);
    frozen = await freezeSshd(fleet.hosts[0]!);
    process.kill(pegasus.pid, 'SIGTERM');
    await assertStopped(pegasus, pgid, frozen, 143);
    assert.equal(await ws.queue(), '- echo pgid=$$ on {{hostname}}; sleep 300\n- echo later\n');
  } finally {
    cleanup();
    frozen?.thaw();
  }
});

test('first Ctrl-C while a host is silent: pegasus waits until keepalive gives the host up, puts its job back, exit 130', async () => {
  const c: Case = { mode: 'q', keepalive: 'Host *\n  ServerAliveInterval 1\n  ServerAliveCountMax 3\n\n' };
  // node2's job ends by itself once pegasus has said it is draining; node1's never could.
  const ws = await workspace(c, '');
  await writeFile(
    path.join(ws.dir, 'queue.yaml'),
    `- command: echo pgid=$$ on {{hostname}} job {{n}}; while [ ! -e ${ws.dir}/go ]; do sleep 0.1; done; echo finished {{n}}\n  n: [a, b]\n- echo later\n`,
  );
  const pegasus = ws.start();
  const cleanup = killUnlessExited(pegasus);
  let frozen: Frozen | undefined;
  try {
    const [, pgid, node1Job] = await pegasus.stdout(/pgid=(\d+) on node1 job ([ab])/);
    await pegasus.stdout(/pgid=\d+ on node2/);
    frozen = await freezeSshd(fleet.hosts[0]!);
    process.kill(pegasus.pid, 'SIGINT');
    await pegasus.stderr(/Press Ctrl-C again/);
    await writeFile(path.join(ws.dir, 'go'), '');
    const result = await within(pegasus.exited, AbortSignal.timeout(PATIENCE_MS), 'pegasus was still draining a silent host');
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stdout, /^\[node2\] === done \(exit 0, [\d.]+s\) ===$/m);
    assert.match(result.stdout, /^\[node1\] === lost connection after [\d.]+s: the connection to node1 was lost \(no answer for 3s\), job put back at the head of the queue ===$/m);
    // Lost while stopping: back in the queue for the next run, not in failed.yaml.
    assert.equal(
      await ws.queue(),
      `- command: echo pgid=$$ on {{hostname}} job {{n}}; while [ ! -e ${ws.dir}/go ]; do sleep 0.1; done; echo finished {{n}}\n  n: ${node1Job}\n- echo later\n`,
    );
    await assert.rejects(readFile(path.join(ws.dir, 'failed.yaml'), 'utf8'), { code: 'ENOENT' });
    frozen.thaw();
    await waitGroupGone(Number(pgid), AbortSignal.timeout(40_000));
  } finally {
    cleanup();
    frozen?.thaw();
  }
});

test('a host that goes silent while idle at the end of the run: pegasus still exits (0)', async () => {
  const ws = await workspace({ mode: 'q', keepalive: '' }, '');
  await writeFile(path.join(ws.dir, 'queue.yaml'), `- echo quick on {{hostname}}\n- echo slow on {{hostname}}; while [ ! -e ${ws.dir}/go ]; do sleep 0.1; done\n`);
  const pegasus = ws.start();
  const cleanup = killUnlessExited(pegasus);
  let frozen: Frozen | undefined;
  try {
    const quick = (await pegasus.stdout(/^\[(node\d)\] quick on node\d$/m))[1];
    await pegasus.stdout(new RegExp(`^\\[${quick}\\] === done \\(exit 0`, 'm'));
    await pegasus.stdout(/^\[node\d\] slow on node\d$/m);
    frozen = await freezeSshd(fleet.hosts[quick === 'node1' ? 0 : 1]!);
    await writeFile(path.join(ws.dir, 'go'), '');
    const result = await within(pegasus.exited, AbortSignal.timeout(PATIENCE_MS), 'pegasus printed its summary but did not exit');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /2 jobs run, 2 succeeded, 0 failed/);
  } finally {
    cleanup();
    frozen?.thaw();
  }
});
