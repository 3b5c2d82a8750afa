// Hooks and `pegasus wait` (issue 16), on real processes: what each hook was given is read back from the files it writes.
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';
import { isAlive } from '../helpers/pids.js';
import { fleetSuite } from '../helpers/suite.js';

const { fleet, tempDir } = fleetSuite({ hosts: 1 });

async function workspace(queue: string, hooks?: string) {
  const dir = await tempDir('pegasus-hooks-');
  await writeFile(path.join(dir, 'hosts.yaml'), '- localhost\n');
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  if (hooks !== undefined) {
    await mkdir(path.join(dir, '.pegasus'), { recursive: true });
    await writeFile(path.join(dir, '.pegasus', 'hooks.yaml'), hooks);
  }
  const lines = async (name: string): Promise<string[]> => {
    const text = await readFile(path.join(dir, name), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '');
  };
  return { dir, lines, file: (name: string) => path.join(dir, name), pegasus: (...args: string[]) => runPegasus(args, { cwd: dir }) };
}

test('each hook kind fires once per job end, with the job\'s data as variables, PEGASUS_* and JSON on stdin; on_idle once at the end', async () => {
  const ws = await workspace(
    `- command: echo "it's {{x}}"; exit {{x}}\n  x: [0, 3]\n- true\n`,
    [
      'on_success: echo "{{job}} x={{x}} on={{subnode}} exit={{exit_code}}" >> ok.txt',
      'on_failure: echo "{{job}} {{status}} exit={{exit_code}} log={{log}}" >> fail.txt; printf "%s\\n" "$PEGASUS_COMMAND" >> fail-env.txt; cat >> fail.jsonl',
      'on_finish: echo "$PEGASUS_JOB $PEGASUS_STATUS" >> finish.txt',
      'on_idle: echo "idle succeeded={{succeeded}} failed={{failed}} queue={{queue}}" >> idle.txt',
      '',
    ].join('\n'),
  );
  const result = await ws.pegasus('q', '--plain');
  assert.equal(result.code, 1, result.stderr);
  assert.deepEqual(await ws.lines('ok.txt'), ['1 x=0 on=localhost exit=0']);
  const fail = await ws.lines('fail.txt');
  assert.equal(fail.length, 1, fail.join('\n'));
  const [, log] = /^2 exit 3 exit=3 log=(\S+)$/.exec(fail[0] ?? '') ?? [];
  assert.ok(log && path.isAbsolute(log) && existsSync(log), `the failed job's log file: ${fail[0]}`);
  assert.match(await readFile(log, 'utf8'), /it's 3/);
  // The variable holds the command as it ran: quotes and all, no quoting needed in the hook.
  assert.deepEqual(await ws.lines('fail-env.txt'), [`echo "it's 3"; exit 3`]);
  const json = (await ws.lines('fail.jsonl')).map((l) => JSON.parse(l) as Record<string, string>);
  assert.equal(json.length, 1);
  assert.deepEqual([json[0]?.event, json[0]?.job, json[0]?.x, json[0]?.host, json[0]?.exit_code], ['on_failure', '2', '3', 'localhost', '3']);
  assert.deepEqual((await ws.lines('finish.txt')).sort(), ['1 succeeded', '2 exit 3', '3 succeeded']);
  assert.deepEqual(await ws.lines('idle.txt'), [`idle succeeded=2 failed=1 queue=${ws.file('queue.yaml')}`]);
});

test('a hook that hangs is stopped (as a tree) by its timeout and one that exits non-zero is reported; the run goes on', async () => {
  const ws = await workspace('- echo a\n- echo b\n', 'on_finish: { command: "sleep 60 & echo $! >> bg.pid; echo $$ >> hook.pid; sleep 60", timeout: 1s }\non_success: exit 4\n');
  const result = await ws.pegasus('q', '--plain');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /2 jobs run, 2 succeeded, 0 failed/);
  for (const job of [1, 2]) {
    assert.match(result.stderr, new RegExp(`hook on_finish \\(job ${job}\\) failed: timed out after 1s and was stopped; its output is in \\S+on_finish-\\d+\\.log`));
    assert.match(result.stderr, new RegExp(`hook on_success \\(job ${job}\\) failed: exit 4`));
  }
  assert.equal((result.stderr.match(/hook on_success \(job 1\)/g) ?? []).length, 1, 'each failure is said once');
  const pids = [...(await ws.lines('hook.pid')), ...(await ws.lines('bg.pid'))].map(Number);
  assert.equal(pids.length, 4);
  assert.deepEqual(pids.filter(isAlive), [], 'no hook process outlives pegasus');
});

test('hooks fire for a job\'s end, not for the attempts before it is retried', async () => {
  // Fails the first time, succeeds the second (--retry-failed).
  const ws = await workspace('- if [ -e tried ]; then exit 0; else touch tried; exit 1; fi\n', 'on_failure: echo "{{job}}" >> fail.txt\non_finish: echo "{{job}} {{attempt}} {{status}}" >> finish.txt\n');
  const result = await ws.pegasus('q', '--plain', '--retry-failed');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /\(job 1, attempt 2\)/);
  assert.deepEqual(await ws.lines('finish.txt'), ['1 2 succeeded']);
  assert.deepEqual(await ws.lines('fail.txt'), []);
});

test('a hook template with an unknown variable in on_idle stops the run before it starts, naming the hook', async () => {
  const ws = await workspace('- true\n');
  const result = await ws.pegasus('q', '--plain', '--on-idle', 'notify {{sucess}}');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--on-idle: The on_idle template `notify \{\{sucess\}\}` uses `\{\{sucess\}\}`, which is not defined/);
  assert.match(result.stderr, /An on_idle hook gets \{\{queue\}\}, \{\{succeeded\}\}, \{\{failed\}\}, \{\{event\}\}/);
  assert.equal(await readFile(ws.file('queue.yaml'), 'utf8'), '- true\n', 'nothing was taken');
});

test('pegasus wait: returns when a daemon\'s queue becomes idle (exit 1: a job failed), waits for one job, gives up at --timeout; from the files once no run is left', async () => {
  // The hook says it has run through a fifo the test reads: the event to wait on (a hook runs beside the run).
  const ws = await workspace('', 'on_idle: echo "idle {{succeeded}} {{failed}}" >> idle.txt; echo ran > idle.fifo\n');
  await promisify(execFile)('mkfifo', [ws.file('idle.fifo')]);
  const hookRan = () => readFile(ws.file('idle.fifo'), 'utf8');
  const gate = ws.file('gate');
  await writeFile(ws.file('queue.yaml'), `- while [ ! -e ${gate} ]; do sleep 0.05; done; exit 3\n`);
  const daemon = startPegasus(['q', '--daemon', '--plain'], { cwd: ws.dir });
  await daemon.stdout(/\(job 1\) ===/);
  const waiting = startPegasus(['wait'], { cwd: ws.dir });
  await waiting.stderr(/waiting for queue\.yaml/);
  await writeFile(gate, '');
  const done = await waiting.exited;
  assert.equal(done.code, 1, done.stderr);
  assert.match(done.stdout, /queue\.yaml is done: it is empty and nothing runs; 1 job ended while waiting, 1 failed \(job 1 exit 3\)/);
  await hookRan();
  assert.deepEqual(await ws.lines('idle.txt'), ['idle 0 1']);

  // A new entry: the run is busy again, and a wait for that job says it succeeded.
  await writeFile(ws.file('queue.yaml'), `- while [ ! -e ${gate}2 ]; do sleep 0.05; done\n`);
  await daemon.stdout(/\(job 2\) ===/);
  const early = await ws.pegasus('wait', '--timeout', '200ms');
  assert.equal(early.code, 124, early.stderr);
  assert.match(early.stderr, /gave up waiting after 200ms: queue\.yaml not done yet/);
  const unknown = await ws.pegasus('wait', '9');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /job 9 has not started in this run/);
  const one = startPegasus(['wait', '2'], { cwd: ws.dir });
  await one.stderr(/waiting for job 2/);
  await writeFile(`${gate}2`, '');
  const second = await one.exited;
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, 'job 2: succeeded\n');
  await hookRan();
  assert.deepEqual(await ws.lines('idle.txt'), ['idle 0 1', 'idle 1 1'], 'on_idle each time the daemon becomes idle');

  process.kill(daemon.pid, 'SIGINT');
  await daemon.exited;
  const after = await ws.pegasus('wait');
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout, /queue\.yaml is done: it is empty and no run is going on/);
  await writeFile(ws.file('queue.yaml'), '- true\n');
  const never = await ws.pegasus('wait');
  assert.equal(never.code, 2);
  assert.match(never.stderr, /No pegasus is running on queue\.yaml, and it holds 1 entry: waiting would never end/);
});

test('on_host_lost fires once, with the host and why, when a host is given up', async () => {
  const ws = await workspace('- echo {{hostname}}\n', 'on_host_lost: echo "{{host}} {{reason}}" >> lost.txt\n');
  await writeFile(ws.file('hosts.yaml'), '- node1\n- localhost\n');
  await fleet().hosts[0]?.stopHost();
  const result = await ws.pegasus('q', '--plain', '--ssh-config', fleet().sshConfigPath);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /\[localhost\] localhost/);
  assert.deepEqual(await ws.lines('lost.txt'), ['node1 refused']);
});
