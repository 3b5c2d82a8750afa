// `pegasus l`: the queue stays locked while the editor runs, a running pegasus says who holds it, and a bad edit is never left behind.
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { workspaces } from '../helpers/workspace.js';
import { runPegasus, startPegasus } from '../helpers/cli.js';

const workspace = workspaces('pegasus-lock-', '- localhost\n');

/** A scripted editor: a shell script that does `body` with the file as $1. */
async function editorScript(dir: string, name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

test('while the editor runs the queue is locked; a running pegasus q says by whom and continues after the save', async () => {
  const dir = await workspace('- echo before\n');
  // The editor appends an entry, announces itself, and waits until the test lets it finish (a fifo).
  const editor = await editorScript(dir, 'edit.sh', `echo '- echo added-in-editor' >> "$1"\necho editing > "${dir}/editing"\nread go < "${dir}/go"`);
  const { execFileSync } = await import('node:child_process');
  execFileSync('mkfifo', [path.join(dir, 'go')]);
  const lock = startPegasus(['l', '--editor', editor], { cwd: dir });
  await lock.stderr(/queue\.yaml is locked; opening it with/);
  // The editor has the lock; now start a queue run.
  const run = startPegasus(['q'], { cwd: dir });
  await run.stderr(/the queue is locked by pid \d+ \(pegasus l, editing the queue\) since/);
  assert.doesNotMatch(run.output().stdout, /before/, 'nothing was popped while locked');
  await writeFile(path.join(dir, 'go'), 'go\n'); // the editor exits
  const locked = await lock.exited;
  assert.equal(locked.code, 0, locked.stderr);
  assert.match(locked.stderr, /queue\.yaml saved; the lock is released/);
  const ran = await run.exited;
  assert.equal(ran.code, 0, ran.stderr);
  assert.match(ran.stdout, /^\[localhost\] before$/m);
  assert.match(ran.stdout, /^\[localhost\] added-in-editor$/m);
});

test('an invalid edit is reported with file:line; "restore" puts the previous content back and exits 2', async () => {
  const dir = await workspace('# jobs\n- echo one\n');
  const editor = await editorScript(dir, 'bad.sh', `printf -- '- command: [oops\\n' >> "$1"`);
  const result = await runPegasus(['l', '--editor', editor], { cwd: dir, input: 'r\n' });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /the edited queue is not valid, so the lock is still held:\nqueue\.yaml:4:1: queue\.yaml is not valid YAML/);
  assert.match(result.stderr, /previous content of queue\.yaml was restored/);
  assert.equal(await readFile(path.join(dir, 'queue.yaml'), 'utf8'), '# jobs\n- echo one\n');
});

test('"edit again" reopens the editor until the queue is valid; an unknown template variable counts as invalid', async () => {
  const dir = await workspace('- echo one\n');
  // First run: add an entry with an unknown variable; second run: fix it.
  const editor = await editorScript(
    dir,
    'twice.sh',
    `if [ -e "${dir}/second" ]; then sed -i 's/{{nope}}/fixed/' "$1"; else touch "${dir}/second"; echo '- echo {{nope}}' >> "$1"; fi`,
  );
  const result = await runPegasus(['l', '--editor', editor], { cwd: dir, input: 'e\n' });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /uses `\{\{nope\}\}`, which is not defined on sub-node localhost/);
  assert.equal(await readFile(path.join(dir, 'queue.yaml'), 'utf8'), '- echo one\n- echo fixed\n');
});

test('without an answer on stdin an invalid edit is restored, never left behind', async () => {
  const dir = await workspace('- echo one\n');
  const editor = await editorScript(dir, 'nokey.sh', `echo '- cmd: no-command-key' >> "$1"`);
  const result = await runPegasus(['l', '--editor', editor], { cwd: dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /A queue entry has no `command` key/);
  assert.equal(await readFile(path.join(dir, 'queue.yaml'), 'utf8'), '- echo one\n');
});

test('the editor is chosen from --editor, then $VISUAL, then $EDITOR; arguments in it work', async () => {
  const dir = await workspace('- echo one\n');
  const editor = await editorScript(dir, 'args.sh', `echo "- echo $1" >> "$2"`);
  const viaVisual = await runPegasus(['l'], { cwd: dir, env: { VISUAL: `${editor} from-visual`, EDITOR: 'false' } });
  assert.equal(viaVisual.code, 0, viaVisual.stderr);
  const viaFlag = await runPegasus(['l', '--editor', `${editor} from-flag`], { cwd: dir, env: { VISUAL: 'false' } });
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  assert.equal(await readFile(path.join(dir, 'queue.yaml'), 'utf8'), '- echo one\n- echo from-visual\n- echo from-flag\n');
});
