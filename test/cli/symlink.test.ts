// Symlinked queue files (issue 13, finding 4): runs, push and lock mode write through the link to its target and keep the link; one lock per target.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, chmod, lstat, mkdir, readFile, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await removeTmpDir(dir);
});

/** A folder with hosts.yaml, `real/q.yaml` holding `queue`, and `queue.yaml` a relative symlink to it. */
async function linkedWorkspace(queue: string) {
  const dir = await makeTmpDir('pegasus-link-');
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), '- localhost\n');
  await mkdir(path.join(dir, 'real'));
  await writeFile(path.join(dir, 'real', 'q.yaml'), queue);
  await symlink('real/q.yaml', path.join(dir, 'queue.yaml'));
  return {
    dir,
    read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>'),
    /** The link target, or a description of what `name` is when it is no longer a link. */
    linkOf: async (name: string) => ((await lstat(path.join(dir, name))).isSymbolicLink() ? readlink(path.join(dir, name)) : 'not a symlink'),
  };
}

async function editorScript(dir: string, name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

test('a run on a symlinked queue takes the entries from the target and keeps the link', async () => {
  const ws = await linkedWorkspace('# sweep\n- echo one\n- command: echo {{x}}\n  x: [a, b]\n');
  const result = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\[localhost\] b$/m);
  assert.equal(await ws.linkOf('queue.yaml'), 'real/q.yaml', 'queue.yaml is still the link');
  assert.equal(await ws.read('real/q.yaml'), '# sweep\n', 'the entries left the real file');
  // consumed.yaml lives beside the path the user gave (README), not beside the target.
  assert.equal(await ws.read('consumed.yaml'), '- echo one\n- command: echo {{x}}\n  x: a\n- command: echo {{x}}\n  x: b\n');
  assert.equal(await ws.read('real/consumed.yaml'), '<missing>');
  // The next run on the real file finds nothing to run again.
  const again = await runPegasus(['q', '--queue-file', 'real/q.yaml'], { cwd: ws.dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /0 jobs run/);
});

test('a link retargeted between runs is followed; consumed.yaml and failed.yaml as links are appended through', async () => {
  const ws = await linkedWorkspace('- echo from-a\n');
  await writeFile(path.join(ws.dir, 'real', 'b.yaml'), '- echo from-b\n- exit 3\n');
  await writeFile(path.join(ws.dir, 'real', 'consumed.yaml'), '- echo earlier\n');
  await symlink('real/consumed.yaml', path.join(ws.dir, 'consumed.yaml'));
  await symlink('real/failed.yaml', path.join(ws.dir, 'failed.yaml')); // dangling until the first failure
  const first = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(first.code, 0, first.stderr);
  await unlink(path.join(ws.dir, 'queue.yaml'));
  await symlink('real/b.yaml', path.join(ws.dir, 'queue.yaml'));
  const second = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stdout, /^\[localhost\] from-b$/m);
  assert.equal(await ws.read('real/q.yaml'), '');
  assert.equal(await ws.read('real/b.yaml'), '');
  assert.equal(await ws.linkOf('queue.yaml'), 'real/b.yaml');
  assert.equal(await ws.linkOf('consumed.yaml'), 'real/consumed.yaml');
  assert.equal(await ws.linkOf('failed.yaml'), 'real/failed.yaml');
  assert.equal(await ws.read('real/consumed.yaml'), '- echo earlier\n- echo from-a\n- echo from-b\n- exit 3\n');
  assert.match(await ws.read('real/failed.yaml'), /^# failed on localhost: exit 3, .*\n- exit 3\n$/);
});

test('push and push --front through a link write to the target and keep the link', async () => {
  const ws = await linkedWorkspace('# keep\n- echo first\n');
  assert.equal((await runPegasus(['push', 'echo last'], { cwd: ws.dir })).code, 0);
  const front = await runPegasus(['push', '--front', 'echo urgent'], { cwd: ws.dir });
  assert.equal(front.code, 0, front.stderr);
  assert.equal(await ws.linkOf('queue.yaml'), 'real/q.yaml');
  assert.equal(await ws.read('real/q.yaml'), '# keep\n- echo urgent\n- echo first\n- echo last\n');
});

test('lock mode through a link edits the target, even with an editor that saves by renaming a new file over it', async () => {
  const ws = await linkedWorkspace('- echo one\n');
  // Like editors that write a copy and rename it over the file they were given.
  const editor = await editorScript(ws.dir, 'rename-save.sh', `cp "$1" "$1.new" && echo '- echo two' >> "$1.new" && mv "$1.new" "$1"`);
  const result = await runPegasus(['l', '--editor', editor], { cwd: ws.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await ws.linkOf('queue.yaml'), 'real/q.yaml');
  assert.equal(await ws.read('real/q.yaml'), '- echo one\n- echo two\n');
  // An invalid edit through the link is restored into the target, the link kept.
  const bad = await editorScript(ws.dir, 'bad.sh', `echo '- cmd: oops' >> "$1"`);
  const restored = await runPegasus(['l', '--editor', bad], { cwd: ws.dir });
  assert.equal(restored.code, 2);
  assert.equal(await ws.linkOf('queue.yaml'), 'real/q.yaml');
  assert.equal(await ws.read('real/q.yaml'), '- echo one\n- echo two\n');
});

test('the link and the real path share one lock: pegasus l on the real file holds back a push through the link', async () => {
  const ws = await linkedWorkspace('- echo one\n');
  execFileSync('mkfifo', [path.join(ws.dir, 'go')]);
  const editor = await editorScript(ws.dir, 'hold.sh', `echo '- echo from-editor' >> "$1"\nread go < "${ws.dir}/go"`);
  const lock = startPegasus(['l', '--queue-file', 'real/q.yaml', '--editor', editor], { cwd: ws.dir });
  let push;
  try {
    await lock.stderr(/real\/q\.yaml is locked; opening it with/);
    push = startPegasus(['push', 'echo pushed'], { cwd: ws.dir });
    const waiting = await push.stderr(/the queue is locked by pid (\d+) \(pegasus l, editing the queue\)[^\n]*q\.yaml\.lock/);
    assert.equal(Number(waiting[1]), lock.pid, 'the push waits for the lock mode process');
    assert.doesNotMatch(await ws.read('real/q.yaml'), /pushed/, 'nothing was pushed while the lock is held');
  } finally {
    await writeFile(path.join(ws.dir, 'go'), 'go\n');
  }
  assert.equal((await lock.exited).code, 0);
  const pushed = await push.exited;
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(await ws.read('real/q.yaml'), '- echo one\n- echo from-editor\n- echo pushed\n');
  assert.equal(await ws.linkOf('queue.yaml'), 'real/q.yaml');
});

test('a daemon started on a link sees changes made to the target', async () => {
  const ws = await linkedWorkspace('');
  const target = path.join(ws.dir, 'real', 'q.yaml');
  const daemon = startPegasus(['q', '--daemon'], { cwd: ws.dir });
  try {
    await daemon.stderr(/queue\.yaml is empty; waiting for new entries/);
    await appendFile(target, '- echo appended-to-target\n'); // echo '- cmd' >> real/q.yaml
    await daemon.stdout(/^\[localhost\] appended-to-target$/m);
    await writeFile(path.join(ws.dir, 'real', '.q.yaml.swp'), '- echo renamed-over-target\n');
    await rename(path.join(ws.dir, 'real', '.q.yaml.swp'), target);
    await daemon.stdout(/^\[localhost\] renamed-over-target$/m);
    await appendFile(path.join(ws.dir, 'queue.yaml'), '- echo appended-through-link\n');
    await daemon.stdout(/^\[localhost\] appended-through-link$/m);
    // Retargeted while it waits (ln -sfn: a new link renamed over the old one): the new target is followed and watched.
    await writeFile(path.join(ws.dir, 'real', 'b.yaml'), '- echo in-b\n');
    await symlink('real/b.yaml', path.join(ws.dir, 'queue.yaml.new'));
    await rename(path.join(ws.dir, 'queue.yaml.new'), path.join(ws.dir, 'queue.yaml'));
    await daemon.stdout(/^\[localhost\] in-b$/m);
    await appendFile(path.join(ws.dir, 'real', 'b.yaml'), '- echo appended-to-b\n');
    await daemon.stdout(/^\[localhost\] appended-to-b$/m);
  } finally {
    process.kill(daemon.pid, 'SIGINT');
  }
  const result = await daemon.exited;
  assert.equal(result.code, 130, result.stderr);
  assert.equal(await ws.linkOf('queue.yaml'), 'real/b.yaml');
  assert.equal(await ws.read('real/q.yaml'), '');
  assert.equal(await ws.read('real/b.yaml'), '');
});

test('a dangling queue link is a clear error naming the link and its target, and nothing is created', async () => {
  const ws = await linkedWorkspace('- echo one\n');
  await unlink(path.join(ws.dir, 'real', 'q.yaml'));
  for (const args of [['q'], ['push', 'echo x'], ['l', '--editor', 'true']]) {
    const result = await runPegasus(args, { cwd: ws.dir });
    assert.equal(result.code, 2, `${args[0]}: ${result.stderr}`);
    assert.match(result.stderr, /^pegasus: queue\.yaml: queue\.yaml is a symbolic link to real\/q\.yaml, which does not exist\./m, args[0]);
    assert.doesNotMatch(result.stderr, /internal error|\n\s+at /, 'no stack trace');
    assert.equal(await ws.linkOf('queue.yaml'), 'real/q.yaml');
    assert.equal(await ws.read('real/q.yaml'), '<missing>');
  }
  // A link that leads back to itself is named too (push locks the file before reading it).
  await unlink(path.join(ws.dir, 'queue.yaml'));
  await symlink('queue.yaml', path.join(ws.dir, 'queue.yaml'));
  const loop = await runPegasus(['push', 'echo x'], { cwd: ws.dir });
  assert.equal(loop.code, 2, loop.stderr);
  assert.match(loop.stderr, /^pegasus: queue\.yaml: queue\.yaml is a symbolic link that leads back to itself\./m);
});

test('a daemon on a dangling link waits for the target to appear, then runs it', async () => {
  const ws = await linkedWorkspace('');
  await unlink(path.join(ws.dir, 'real', 'q.yaml'));
  const daemon = startPegasus(['q', '--daemon'], { cwd: ws.dir });
  try {
    await daemon.stderr(/queue\.yaml does not exist \(deleted\?\); waiting for it to come back/);
    await writeFile(path.join(ws.dir, 'real', 'q.yaml'), '- echo target-appeared\n');
    await daemon.stdout(/^\[localhost\] target-appeared$/m);
  } finally {
    process.kill(daemon.pid, 'SIGINT');
  }
  assert.equal((await daemon.exited).code, 130);
  assert.equal(await ws.linkOf('queue.yaml'), 'real/q.yaml');
  assert.equal(await ws.read('real/q.yaml'), '');
});
