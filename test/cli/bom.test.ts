// Files saved by Windows editors (issue 13, finding 5): queue.yaml and hosts.yaml with a byte order mark or CRLF, through q, push, l and status.
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { runPegasus } from '../helpers/cli.js';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp.js';

const BOM = '\uFEFF';
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await removeTmpDir(dir);
});

async function workspace(files: Record<string, string>) {
  const dir = await makeTmpDir('pegasus-bom-cli-');
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return {
    dir,
    /** A file's bytes as text, with the BOM (if any) kept as U+FEFF. */
    read: (name: string) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>'),
  };
}

test('a queue and hosts file with a BOM run; after a burst and a failure the BOM is still at byte 0 and the rest as written', async () => {
  const ws = await workspace({
    'hosts.yaml': `${BOM}- localhost\n`,
    'queue.yaml': `${BOM}# jobs\n- command: echo c={{c}}; exit {{c}}\n  c: [0, 4, 0]\n- echo after   # kept\n`,
  });
  const result = await runPegasus(['q', '--fail-fast'], { cwd: ws.dir });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stdout, /^\[localhost\] c=0$/m);
  assert.match(result.stdout, /^\[localhost\] c=4$/m);
  assert.equal(await ws.read('queue.yaml'), `${BOM}# jobs\n- command: echo c={{c}}; exit {{c}}\n  c: 0\n- echo after   # kept\n`);
  assert.equal(await ws.read('consumed.yaml'), '- command: echo c={{c}}; exit {{c}}\n  c: 0\n- command: echo c={{c}}; exit {{c}}\n  c: 4\n');
  const status = await runPegasus(['status'], { cwd: ws.dir });
  assert.match(status.stdout, /^queue\.yaml: 2 entries queued$/m);
  const rest = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(rest.code, 0, rest.stderr);
  assert.equal(await ws.read('queue.yaml'), `${BOM}# jobs\n`);
});

test('push --front and push --file with a BOM keep the queue\'s BOM at byte 0 and add none in the middle', async () => {
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': `${BOM}- echo first\n`, 'more.yaml': `${BOM}# more\n- echo more\n` });
  assert.equal((await runPegasus(['push', '--front', 'echo urgent'], { cwd: ws.dir })).code, 0);
  const file = await runPegasus(['push', '--file', 'more.yaml'], { cwd: ws.dir });
  assert.equal(file.code, 0, file.stderr);
  assert.equal(await ws.read('queue.yaml'), `${BOM}- echo urgent\n- echo first\n# more\n- echo more\n`);
});

test('errors in a file with a BOM point at the same line and column as without it', async () => {
  for (const [queue, where] of [
    ['- echo ok\n- cmd: oops\n', 'queue.yaml:2:3: A queue entry has no `command` key'],
    ['- "unclosed\n', 'queue.yaml:2:1: queue.yaml is not valid YAML'],
    ['- a: b: c\n', 'queue.yaml:1:6: queue.yaml is not valid YAML'],
  ] as const) {
    const plain = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': queue });
    const marked = await workspace({ 'hosts.yaml': `${BOM}- localhost\n`, 'queue.yaml': `${BOM}${queue}` });
    const without = await runPegasus(['q'], { cwd: plain.dir });
    const withBom = await runPegasus(['q'], { cwd: marked.dir });
    assert.equal(without.code, 2);
    assert.equal(withBom.code, 2);
    assert.ok(without.stderr.includes(where), without.stderr);
    assert.equal(withBom.stderr, without.stderr);
  }
});

test('lock mode accepts a queue with a BOM and reports a bad edit at the right line', async () => {
  const ws = await workspace({ 'hosts.yaml': `${BOM}- localhost\n`, 'queue.yaml': `${BOM}- echo one\n` });
  const good = path.join(ws.dir, 'good.sh');
  await writeFile(good, `#!/bin/sh\necho '- echo two' >> "$1"\n`);
  await chmod(good, 0o755);
  const saved = await runPegasus(['l', '--editor', good], { cwd: ws.dir });
  assert.equal(saved.code, 0, saved.stderr);
  assert.equal(await ws.read('queue.yaml'), `${BOM}- echo one\n- echo two\n`);
  const bad = path.join(ws.dir, 'bad.sh');
  await writeFile(bad, `#!/bin/sh\necho '- cmd: oops' >> "$1"\n`);
  await chmod(bad, 0o755);
  const restored = await runPegasus(['l', '--editor', bad], { cwd: ws.dir });
  assert.equal(restored.code, 2);
  assert.match(restored.stderr, /queue\.yaml:3:3: A queue entry has no `command` key/);
  assert.equal(await ws.read('queue.yaml'), `${BOM}- echo one\n- echo two\n`);
});

test('CRLF line endings keep working: the jobs run without a stray CR, the rest of the file stays byte for byte', async () => {
  const ws = await workspace({ 'hosts.yaml': '- localhost\r\n', 'queue.yaml': '- echo one\r\n- exit 4\r\n# three\r\n- echo three\r\n' });
  const result = await runPegasus(['q', '--fail-fast'], { cwd: ws.dir });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stdout, /^\[localhost\] one$/m);
  assert.equal(await ws.read('queue.yaml'), '# three\r\n- echo three\r\n');
  assert.equal(await ws.read('consumed.yaml'), '- echo one\n- exit 4\n');
});
