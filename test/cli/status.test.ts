// `pegasus status`: what runs where (during a run), the last failures with their logs (after it), and who holds the lock.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function workspace(hosts: string, queue: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-status-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  await promisify(execFile)('mkfifo', [path.join(dir, 'gate')]);
  return dir;
}

test('during a run: the live pegasus by pid, what runs on which sub-node and since when, what is queued', async () => {
  // One 4-slot sub-node: the 2-slot job holds slots 0-1 until the test opens the gate; the 4-slot job behind it waits (FIFO).
  const dir = await workspace('- hostname: localhost\n  slots: 4\n', '- command: read x < gate\n  slots: 2\n- command: echo wide\n  slots: 4\n- echo last\n');
  const run = startPegasus(['q', '--plain'], { cwd: dir });
  await run.stdout(/=== run read x < gate \(job 1\) ===/);
  const status = await runPegasus(['status'], { cwd: dir });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^run pid ${run.pid} \\(alive\\), taking jobs since [\\d:]+: 1 running, 0 finished$`, 'm'));
  assert.match(status.stdout, /^ {2}\[localhost\] ▮▮▯▯$/m, 'slot occupancy');
  assert.match(status.stdout, /^ {2}\[localhost\] \d+s slots 0,1 {2}read x < gate {3}\(slots=2\)$/m);
  // The 4-slot job waits for the head's slots (FIFO); it was taken and waits in memory, `echo last` is still in the file.
  assert.match(status.stdout, /^queue\.yaml: 1 entry queued$/m);
  assert.doesNotMatch(status.stdout, /no pegasus is running/);
  await writeFile(path.join(dir, 'gate'), 'go\n');
  assert.equal((await run.exited).code, 0);
});

test('after a run: nobody is running, and the last failures are listed with log files that exist', async () => {
  const dir = await workspace('- localhost\n', '- echo fine\n- echo broken; exit 3\n');
  const result = await runPegasus(['q', '--plain'], { cwd: dir });
  assert.equal(result.code, 1);
  const status = await runPegasus(['status'], { cwd: dir });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^queue\.yaml: 0 entries queued$/m);
  assert.match(status.stdout, /^no pegasus is running on this queue\.$/m);
  assert.match(status.stdout, /^last failures:\n {2}[\d:]+ \[localhost\] exit 3 after [\d.]+s: echo broken; exit 3\n {11}log: (\S+)$/m);
  const log = /log: (\S+)/.exec(status.stdout)?.[1] ?? '';
  await access(path.resolve(dir, log));
  assert.doesNotMatch(status.stdout, /echo fine/, 'only failures');
  const json = JSON.parse((await runPegasus(['status', '--json'], { cwd: dir })).stdout) as { lastFailures: { exit: number }[]; runs: { alive: boolean }[] };
  assert.equal(json.lastFailures[0]?.exit, 3);
  assert.ok(json.runs.every((r) => !r.alive));
});

test('while pegasus l edits the queue, status says it is locked and by which pid', async () => {
  const dir = await workspace('- localhost\n', '- echo a\n');
  const editor = path.join(dir, 'edit.sh');
  await writeFile(editor, `#!/bin/sh\nread go < "${dir}/gate"\n`);
  await chmod(editor, 0o755);
  const lock = startPegasus(['l', '--editor', editor], { cwd: dir });
  await lock.stderr(/queue\.yaml is locked; opening it with/);
  const status = await runPegasus(['status'], { cwd: dir });
  assert.match(status.stdout, new RegExp(`^ {2}locked by pid ${lock.pid} \\(pegasus l, editing the queue\\) since [\\d:]+$`, 'm'));
  await writeFile(path.join(dir, 'gate'), 'go\n');
  assert.equal((await lock.exited).code, 0);
  const later = await runPegasus(['status'], { cwd: dir });
  assert.doesNotMatch(later.stdout, /locked/);
});

test('a queue folder that does not exist is a one-paragraph error', async () => {
  const result = await runPegasus(['status', '--queue-file', '/nonexistent/folder/queue.yaml'], { cwd: os.tmpdir() });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /The folder of the queue file \/nonexistent\/folder\/queue\.yaml does not exist/);
});
