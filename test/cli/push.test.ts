// `pegasus push`: entries added under the lock, validated first, the rest of the file kept; many writers lose nothing.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runPegasus, startPegasus } from '../helpers/cli.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function workspace(queue: string): Promise<{ dir: string; queue: () => Promise<string> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-push-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), '- localhost\n');
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return { dir, queue: () => readFile(path.join(dir, 'queue.yaml'), 'utf8') };
}

test('push a command, a file, stdin, and --front; the rest of the queue is kept byte for byte', async () => {
  const ws = await workspace('# keep this comment\n- echo first   # and this\n');
  assert.equal((await runPegasus(['push', `python train.py --name 'a: b' --lr 1e-3`], { cwd: ws.dir })).code, 0);
  await writeFile(path.join(ws.dir, 'more.yaml'), '# sweep\n- command: echo {{x}}\n  x: [1, 2]\n');
  assert.equal((await runPegasus(['push', '--file', 'more.yaml'], { cwd: ws.dir })).code, 0);
  assert.equal((await runPegasus(['push'], { cwd: ws.dir, input: '- echo from-stdin\n' })).code, 0);
  const front = await runPegasus(['push', '--front', 'echo urgent'], { cwd: ws.dir });
  assert.match(front.stderr, /pushed 1 entry to the head of queue\.yaml/);
  assert.equal(
    await ws.queue(),
    "# keep this comment\n- echo urgent\n- echo first   # and this\n- \"python train.py --name 'a: b' --lr 1e-3\"\n# sweep\n- command: echo {{x}}\n  x: [1, 2]\n- echo from-stdin\n",
  );
});

test('invalid pushes are refused before anything is written', async () => {
  const ws = await workspace('- echo first\n');
  const noCommand = await runPegasus(['push'], { cwd: ws.dir, input: '- cmd: oops\n' });
  assert.equal(noCommand.code, 2);
  assert.match(noCommand.stderr, /<stdin>:1:3: A queue entry has no `command` key/);
  const badTemplate = await runPegasus(['push', 'echo {{nope}}'], { cwd: ws.dir });
  assert.equal(badTemplate.code, 2);
  assert.match(badTemplate.stderr, /uses `\{\{nope\}\}`, which is not defined/);
  const badYaml = await runPegasus(['push', '--file', '-'], { cwd: ws.dir, input: '- [unclosed\n' });
  assert.equal(badYaml.code, 2);
  assert.equal(await ws.queue(), '- echo first\n');
});

test('4 writers x 50 pushes while a daemon drains the queue: every entry runs exactly once', async () => {
  const ws = await workspace('');
  const daemon = startPegasus(['q', '--daemon'], { cwd: ws.dir });
  try {
    await daemon.stderr(/is empty; waiting for new entries/);
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        const result = await runPegasus(['push', `echo job-${w}-${i} >> ran.txt`], { cwd: ws.dir });
        assert.equal(result.code, 0, result.stderr);
      }
    };
    await Promise.all([0, 1, 2, 3].map(writer));
    await daemon.stdoutUntil((text) => (text.match(/=== done /g)?.length ?? 0) >= 200);
  } finally {
    process.kill(daemon.pid, 'SIGTERM');
  }
  const result = await daemon.exited;
  assert.equal(result.code, 143);
  const ran = (await readFile(path.join(ws.dir, 'ran.txt'), 'utf8')).trim().split('\n');
  assert.equal(ran.length, 200);
  assert.equal(new Set(ran).size, 200);
  assert.equal((await readFile(path.join(ws.dir, 'consumed.yaml'), 'utf8')).trim().split('\n').length, 200);
  assert.equal(await ws.queue(), '');
});
