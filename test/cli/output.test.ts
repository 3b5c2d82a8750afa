// Per-job logs and --json: every line is kept on disk whatever the screen shows; --json prints only JSON lines.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { workspaces } from '../helpers/workspace.js';
import { runPegasus } from '../helpers/cli.js';

const workspace = workspaces('pegasus-output-', '- hostname: localhost\n  slot: [0]\n');

test('each job\'s full output goes to its own log file, named in the summary for failures, even with --print-period 0', async () => {
  const dir = await workspace('- seq 1 3; echo oops >&2; exit 2\n');
  const result = await runPegasus(['q', '-p', '0'], { cwd: dir });
  assert.equal(result.code, 1);
  assert.doesNotMatch(result.stdout, /^\[localhost \(slot=0\)\] 2$/m, 'nothing shown on screen');
  const log = /^ {9}log: (.*)$/m.exec(result.stderr)?.[1];
  assert.ok(log, `a log path in: ${result.stderr}`);
  assert.match(log, /\.pegasus\/logs\/[^/]+\/0001-localhost_slot=0\.log$/);
  const text = await readFile(path.resolve(dir, log), 'utf8');
  assert.ok(text.startsWith('=== run on localhost (slot=0): seq 1 3; echo oops >&2; exit 2\n1\n2\n3\n[stderr] oops\n'), text);
  assert.match(text, /\n=== done \(exit 2, [\d.]+s\) ===\n$/);
});

test('a job that succeeds without printing gets no log file; one that prints, or fails silently, does; index.jsonl lists all three', async () => {
  const dir = await workspace('- "true"\n- echo hi\n- exit 3\n');
  const result = await runPegasus(['q', '-p', '0'], { cwd: dir });
  assert.equal(result.code, 1, result.stderr);
  const logs = path.join(dir, '.pegasus', 'logs');
  const [run] = await readdir(logs);
  assert.ok(run, 'a run folder');
  assert.deepEqual((await readdir(path.join(logs, run))).sort(), ['0002-localhost_slot=0.log', '0003-localhost_slot=0.log', 'index.jsonl']);
  assert.match(await readFile(path.join(logs, run, '0003-localhost_slot=0.log'), 'utf8'), /=== done \(exit 3, /);
  const index = (await readFile(path.join(logs, run, 'index.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { command: string; outcome: string; log: string });
  const byCommand = new Map(index.map((e) => [e.command, e]));
  assert.deepEqual([...byCommand.keys()].sort(), ['echo hi', 'exit 3', 'true']);
  assert.equal(byCommand.get('true')?.outcome, 'ok');
  assert.equal(byCommand.get('true')?.log, '');
  assert.match(byCommand.get('echo hi')?.log ?? '', /0002-localhost_slot=0\.log$/);
  assert.match(byCommand.get('exit 3')?.log ?? '', /0003-localhost_slot=0\.log$/);
});

test('--json prints one JSON object per event on stdout and nothing else', async () => {
  const dir = await workspace('- command: echo {{x}}\n  x: [a]\n');
  const result = await runPegasus(['q', '--json'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(events.map((e) => e.event), ['host-connected', 'job-started', 'job-output', 'job-finished', 'run-finished']);
  assert.equal(events[0]?.host, 'localhost');
  assert.deepEqual(events[1]?.job, { command: 'echo {{x}}', x: 'a' });
  assert.equal(events[1]?.subnode, 'localhost (slot=0)');
  assert.equal(events[2]?.line, 'a');
  assert.equal(events[3]?.exitCode, 0);
  assert.equal(events[4]?.succeeded, 1);
  assert.equal(result.stderr, '');
});
