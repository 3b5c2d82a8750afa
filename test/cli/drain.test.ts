// Drain and resume on a real sshd fleet, and steering a broadcast (issue 14): a drained host finishes its job, its connection goes, the others take the queue; a paused sub-node holds the barrier.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';
import type { FleetHost } from '../helpers/fleet.js';
import { fleetSuite } from '../helpers/suite.js';
import { descendantsOf, liveInGroup, waitGone, waitGroupGone } from '../helpers/procs.js';

const { fleet, tempDir } = fleetSuite({ hosts: 2 });

async function workspace(hosts: string, queue: string) {
  const dir = await tempDir('pegasus-drain-');
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return {
    dir,
    start: (mode: 'q' | 'b' = 'q') => startPegasus([mode, '--plain', '--ssh-config', fleet().sshConfigPath], { cwd: dir }),
    pegasus: (...args: string[]) => runPegasus(args, { cwd: dir }),
    read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>'),
    open: (name: string) => writeFile(path.join(dir, name), ''),
  };
}

/** The processes sshd runs for a host's connections (its per-connection children and their sessions). */
const sessionsOf = (host: FleetHost) => descendantsOf([host.pid]);

/** A job that says where it runs, then waits until `gate` exists. */
const gated = (gate: string, tag: string) => `- echo ${tag}-on={{hostname}}; while [ ! -e ${gate} ]; do sleep 0.05; done\n`;

test('drain: the running job finishes, then the host\'s connection is gone and the other host takes the queue; resume brings it back', async () => {
  const [node1, node2] = fleet().hosts as [FleetHost, FleetHost];
  const ws = await workspace(`- hostname: [${node1.alias}, ${node2.alias}]\n`, '');
  const g1 = path.join(ws.dir, 'gate1');
  const g2 = path.join(ws.dir, 'gate2');
  await writeFile(path.join(ws.dir, 'queue.yaml'), gated(g1, 'a') + gated(g1, 'b') + gated(g2, 'c') + gated(g2, 'd') + gated(g2, 'e'));
  const run = ws.start();
  await run.stdout(new RegExp(`\\[${node1.alias}\\] [ab]-on=${node1.alias}`));
  await run.stdout(new RegExp(`\\[${node2.alias}\\] [ab]-on=${node2.alias}`));

  const drained = await ws.pegasus('drain', node1.alias);
  assert.equal(drained.code, 0, drained.stderr);
  await run.stderr(new RegExp(`draining ${node1.alias}: running jobs finish there`));
  const status = await ws.pegasus('status');
  assert.match(status.stdout, new RegExp(`^ {2}\\[${node1.alias}\\] running job \\d, draining$`, 'm'));
  assert.ok((await sessionsOf(node1)).length > 0, 'the draining host keeps its connection while its job runs');

  await ws.open('gate1');
  await run.stderr(new RegExp(`\\[${node1.alias}\\] drained: its jobs ended and its host's connections are closed`));
  // Its job was not cut short; the next one went to the other host.
  assert.match(run.output().stdout, new RegExp(`\\[${node1.alias}\\] === done \\(exit 0`));
  await run.stdout(new RegExp(`\\[${node2.alias}\\] c-on=${node2.alias}`));
  await waitGone(await sessionsOf(node1), AbortSignal.timeout(15_000));
  assert.deepEqual(await sessionsOf(node1), [], 'no sshd session is left on the drained host');
  assert.ok((await sessionsOf(node2)).length > 0, 'the other host is still connected');
  assert.match((await ws.pegasus('status')).stdout, new RegExp(`^ {2}\\[${node1.alias}\\] idle, drained$`, 'm'));
  assert.equal((run.output().stdout.match(new RegExp(`\\[${node1.alias}\\] === run`, 'g')) ?? []).length, 1, 'a draining host starts nothing');

  const resumed = await ws.pegasus('resume', node1.alias);
  assert.equal(resumed.code, 0, resumed.stderr);
  await run.stdout(new RegExp(`\\[${node1.alias}\\] d-on=${node1.alias}`));
  await ws.open('gate2');
  const result = await run.exited;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /5 succeeded, 0 failed/);
  assert.equal(await ws.read('queue.yaml'), '');
  // node2 ran its first job and c, node1 its first job and d; e went to whichever finished first.
  const ran = (node: FleetHost) => [...result.stdout.matchAll(new RegExp(`\\[${node.alias}\\] ([a-e])-on=`, 'g'))].map((m) => m[1]).sort().join('');
  assert.match(ran(node1), /^[ab]de?$/);
  assert.match(ran(node2), /^[ab]ce?$/);
  assert.equal(ran(node1).length + ran(node2).length, 5);
});

test('daemon: drain of an idle host closes its connection at once; an unknown host is refused', async () => {
  const [node1] = fleet().hosts as [FleetHost, FleetHost];
  const ws = await workspace(`- ${node1.alias}\n- localhost\n`, '');
  const g = path.join(ws.dir, 'gate');
  await writeFile(path.join(ws.dir, 'queue.yaml'), gated(g, 'a'));
  const run = startPegasus(['q', '--daemon', '--plain', '--ssh-config', fleet().sshConfigPath], { cwd: ws.dir });
  await run.stdout(/a-on=/);
  await run.stderr(/is empty; waiting for new entries/);
  const wrong = await ws.pegasus('drain', 'nosuchhost');
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /no such host or sub-node in this run: nosuchhost/);
  if (run.output().stdout.includes(`[${node1.alias}] a-on`)) {
    // The job went to node1: drain localhost instead (no connection to see), and node1 after its job.
    assert.equal((await ws.pegasus('drain', 'localhost')).code, 0);
    await run.stderr(/\[localhost\] drained/);
    assert.equal((await ws.pegasus('drain', node1.alias)).code, 0);
    await ws.open('gate');
  } else {
    assert.ok((await sessionsOf(node1)).length > 0, 'connected while idle');
    assert.equal((await ws.pegasus('drain', node1.alias)).code, 0);
  }
  await run.stderr(new RegExp(`\\[${node1.alias}\\] drained`));
  await waitGone(await sessionsOf(node1), AbortSignal.timeout(15_000));
  await ws.open('gate');
  process.kill(run.pid, 'SIGINT');
  const result = await run.exited;
  assert.equal(result.code, 130, result.stderr);
  assert.match(result.stderr, /1 succeeded, 0 failed/);
});

test('broadcast: a paused sub-node holds the barrier (status says so); kill N kills job N on every sub-node; resume goes on', async () => {
  const ws = await workspace('- hostname: localhost\n  s: [a, b]\n', '- sleep 300 & echo pgid-{{s}}=$$; wait\n- echo second-{{s}}\n');
  const run = ws.start('b');
  const a = Number((await run.stdout(/pgid-a=(\d+)/))[1]);
  const b = Number((await run.stdout(/pgid-b=(\d+)/))[1]);
  assert.equal((await ws.pegasus('pause', 'localhost (s=b)')).code, 0);
  const killed = await ws.pegasus('kill', '1');
  assert.equal(killed.code, 0, killed.stderr);
  await waitGroupGone(a, AbortSignal.timeout(15_000));
  await waitGroupGone(b, AbortSignal.timeout(15_000));
  // The next job runs where it may, and waits for the paused sub-node.
  await run.stdout(/\[localhost \(s=a\)\] second-a/);
  const status = await ws.pegasus('status');
  assert.match(status.stdout, /^ {2}\[localhost \(s=b\)\] idle, paused \(holds the broadcast barrier\)$/m);
  assert.doesNotMatch(run.output().stdout, /second-b/);
  assert.equal(await ws.read('queue.yaml'), '');
  assert.equal((await ws.pegasus('resume')).code, 0);
  const result = await run.exited;
  assert.match(result.stdout, /\[localhost \(s=b\)\] second-b/);
  assert.equal(result.code, 1, 'a killed job is a failed one');
  assert.match(await ws.read('failed.yaml'), /killed.*\n- sleep 300/);
  assert.deepEqual(await liveInGroup(a), []);
});
