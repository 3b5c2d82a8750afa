// Plain mode: piped output has no escape codes (unless FORCE_COLOR), and a progress line appears on stderr now and then.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { workspaces } from '../helpers/workspace.js';
import { runPegasus, startPegasus } from '../helpers/cli.js';

const workspace = workspaces('pegasus-plain-', '- hostname: localhost\n  slot: [0, 1]\n');

const ESC = '\u001b';

test('piped, even outside CI: plain prefixed lines and no escape codes on stdout or stderr', async () => {
  const dir = await workspace('- echo one\n- echo two; exit 1\n');
  const result = await runPegasus(['q'], { cwd: dir, env: { CI: '', TERM: 'xterm-256color' } });
  assert.equal(result.code, 1);
  assert.match(result.stdout, /^\[localhost \(slot=\d\)\] one$/m);
  assert.ok(!result.stdout.includes(ESC) && !result.stderr.includes(ESC), JSON.stringify(result));
});

test('FORCE_COLOR colours the prefixes when piped; NO_COLOR alone does not', async () => {
  const dir = await workspace('- echo one\n');
  const forced = await runPegasus(['q', '--plain'], { cwd: dir, env: { FORCE_COLOR: '1' } });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, new RegExp(`^${ESC}\\[\\d+m\\[localhost \\(slot=0\\)\\]${ESC}\\[39m one$`, 'm'));
  await writeFile(path.join(dir, 'queue.yaml'), '- echo one\n');
  const none = await runPegasus(['q', '--plain'], { cwd: dir, env: { NO_COLOR: '1' } });
  assert.ok(!none.stdout.includes(ESC), none.stdout);
});

test('a one-line progress summary on stderr while jobs run', async () => {
  const dir = await workspace('- read line < gate\n- echo two\n- echo three\n');
  await promisify(execFile)('mkfifo', [path.join(dir, 'gate')]);
  const pegasus = startPegasus(['q'], { cwd: dir, env: { PEGASUS_PROGRESS_MS: '100' } });
  const match = await pegasus.stderr(/^pegasus: progress: 2 done, 0 failed, 1 running, 0 queued \(\d+s\)$/m);
  assert.ok(match.index >= 0, pegasus.output().stderr);
  await writeFile(path.join(dir, 'gate'), 'go\n');
  const result = await pegasus.exited;
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('pegasus: progress:'));
  assert.equal(new Set(lines.map((l) => l.replace(/ \(\d+s\)$/, ''))).size, lines.length, `a line only when the counts change:\n${result.stderr}`);
});
