// Live hosts.yaml on a real sshd fleet (issue 14): during a daemon run an added host takes jobs, a removed one stops after its job and is hung up, an invalid edit is said once and changes nothing.
import assert from 'node:assert/strict';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';
import type { FleetHost } from '../helpers/fleet.js';
import { fleetSuite } from '../helpers/suite.js';
import { descendantsOf, waitGone } from '../helpers/procs.js';

const { fleet, tempDir } = fleetSuite({ hosts: 3 });

test('daemon: a host added to hosts.yaml takes jobs, a removed one finishes its job and leaves, a bad edit is reported once and changes nothing', async () => {
  const [node1, node2, node3] = fleet().hosts as [FleetHost, FleetHost, FleetHost];
  const dir = await tempDir('pegasus-hosts-live-');
  const hosts = path.join(dir, 'hosts.yaml');
  const queue = path.join(dir, 'queue.yaml');
  const gate = path.join(dir, 'gate');
  await writeFile(hosts, `- ${node1.alias}\n`);
  await writeFile(queue, `- echo a-on={{hostname}}; while [ ! -e ${gate} ]; do sleep 0.05; done\n`);
  const push = (tag: string) => appendFile(queue, `- echo ${tag}-on={{hostname}}\n`);
  const run = startPegasus(['q', '--daemon', '--plain', '--ssh-config', fleet().sshConfigPath], { cwd: dir });
  await run.stdout(new RegExp(`\\[${node1.alias}\\] a-on=${node1.alias}`));

  // Added: it connects and takes the next job (node1 is busy).
  await writeFile(hosts, `- ${node1.alias}\n- ${node2.alias}\n`);
  await run.stderr(new RegExp(`hosts\\.yaml changed: added \\[${node2.alias}\\]\\.`));
  await run.stderr(new RegExp(`\\[${node2.alias}\\] joined the run`));
  await push('b');
  await run.stdout(new RegExp(`\\[${node2.alias}\\] b-on=${node2.alias}`));

  // Invalid: said once, with file and line; the run goes on with the hosts it has.
  await writeFile(hosts, `- ${node2.alias}\n- hostname: [${node3.alias}\n`);
  const bad = await run.stderr(/pegasus: (.*hosts\.yaml:\d+:\d+.*)\n/);
  await run.stderr(/the run goes on with the hosts it had/);
  await push('c');
  await run.stdout(new RegExp(`\\[${node2.alias}\\] c-on=${node2.alias}`));

  // Fixed: node3 joins, node1 (still running its job) is removed and leaves after it.
  await writeFile(hosts, `- ${node2.alias}\n- ${node3.alias}\n`);
  await run.stderr(new RegExp(`changed: added \\[${node3.alias}\\]; removed \\[${node1.alias}\\] \\(each leaves once its running jobs end\\)`));
  const status = await runPegasus(['status'], { cwd: dir });
  assert.match(status.stdout, new RegExp(`^ {2}\\[${node1.alias}\\] running job 1, removing$`, 'm'));
  assert.match(status.stdout, new RegExp(`^ {2}\\[${node3.alias}\\] idle$`, 'm'));
  for (const tag of ['d', 'e', 'f']) await push(tag);
  await run.stdoutUntil((text) => ['d', 'e', 'f'].every((tag) => new RegExp(`\\] ${tag}-on=`).test(text)));
  assert.ok((await descendantsOf([node1.pid])).length > 0, 'the removed host keeps its connection while its job runs');
  await writeFile(gate, '');
  await run.stderr(new RegExp(`\\[${node1.alias}\\] left the run`));
  await waitGone(await descendantsOf([node1.pid]), AbortSignal.timeout(15_000));
  await push('g');
  await run.stdout(/\] g-on=/);

  process.kill(run.pid, 'SIGINT');
  const result = await run.exited;
  assert.equal(result.code, 130, result.stderr);
  assert.match(result.stderr, /7 succeeded, 0 failed/);
  // Only its first job ran on the removed host; the error was said once although the file was read again.
  assert.equal((result.stdout.match(new RegExp(`\\[${node1.alias}\\] === run`, 'g')) ?? []).length, 1);
  assert.equal(result.stderr.split(bad[1] as string).length - 1, 1, 'the invalid edit is reported once');
  assert.match(bad[1] as string, /hosts\.yaml:\d+:\d+: hosts\.yaml is not valid YAML/);
  assert.equal(await readFile(queue, 'utf8'), '');
});

test('an edit the queued jobs cannot render is refused; a changed slot count takes over once the running job ends', async () => {
  const dir = await tempDir('pegasus-hosts-live-');
  const hosts = path.join(dir, 'hosts.yaml');
  const wait = (name: string) => `while [ ! -e ${path.join(dir, name)} ]; do sleep 0.05; done`;
  await writeFile(hosts, '- hostname: localhost\n  tag: x\n');
  const job = `- echo tag={{tag}} slots={{slots}}; ${wait('gate2')}\n`;
  await writeFile(path.join(dir, 'queue.yaml'), `- echo first; ${wait('gate1')}\n${job}${job}`);
  const run = startPegasus(['q', '--plain'], { cwd: dir });
  await run.stdout(/\] first/);

  await writeFile(hosts, '- hostname: localhost\n  slots: 2\n');
  const refused = await run.stderr(/pegasus: (.*)\n/);
  assert.match(refused[1] as string, /^hosts\.yaml: The edit of hosts\.yaml is not applied: a queued job would not run on its hosts\. queue\.yaml:1:3: .* uses `\{\{tag\}\}`, which is not defined on sub-node localhost/);
  await writeFile(hosts, '- hostname: localhost\n  tag: x\n  slots: 2\n');
  await run.stderr(/hosts\.yaml changed: changed \[localhost \(tag=x\)\] \(the new definition takes over once its running jobs end\)/);
  await writeFile(path.join(dir, 'gate1'), '');
  // Both queued jobs run at once on the new definition's two slots.
  await run.stdoutUntil((text) => /tag=x slots=0\n/.test(text) && /tag=x slots=1\n/.test(text));
  await writeFile(path.join(dir, 'gate2'), '');
  const result = await run.exited;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /3 jobs run, 3 succeeded/);
});
