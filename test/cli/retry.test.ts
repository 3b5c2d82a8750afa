// A host that dies mid-job: the job is a transport failure, retried on another host; the dead host is quarantined.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startPegasus } from '../helpers/cli.js';
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

test('sshd of one host dies while its job runs: the job is retried on the other host, the dead host quarantined, exit 0', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-retry-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), '- node1\n- node2\n');
  // One job per host; each reports where it started and, 1 s later, where it finished.
  await writeFile(path.join(dir, 'queue.yaml'), '- command: echo start-{{n}}-on-{{hostname}}; sleep 1; echo done-{{n}}-on-{{hostname}}\n  n: [a, b]\n');
  const pegasus = startPegasus(['q', '--ssh-config', fleet.sshConfigPath], { cwd: dir });
  const started = await pegasus.stdout(/start-([ab])-on-node1/);
  await fleet.hosts[0]!.stopHost(); // the machine goes away, sessions and all
  const result = await pegasus.exited;
  assert.equal(result.code, 0, result.stderr);
  const job = started[1];
  assert.match(result.stdout, /^\[node1\] === lost connection after [\d.]+s: .*, will be retried on the next free sub-node ===$/m);
  assert.match(result.stdout, new RegExp(`^\\[node2\\] === run echo start-${job}-on-node2; .* \\(attempt 2\\) ===$`, 'm'));
  assert.match(result.stdout, new RegExp(`^\\[node2\\] done-${job}-on-node2$`, 'm'));
  assert.match(result.stderr, /host node1: .*; reconnecting in 1s\./);
  assert.match(result.stderr, /host node1: cannot connect to node1: .* refused the connection/, 'quarantined after the reconnects failed');
  assert.match(result.stderr, /2 jobs run, 2 succeeded, 0 failed/);
  assert.match(result.stderr, /1 job needed more than one attempt/);
  assert.equal(await readFile(path.join(dir, 'queue.yaml'), 'utf8'), '');
});
