// --group and --keep-order (issue 8): each job's output as one block, optionally in the order jobs were taken; big blocks come back from the log file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { runPegasus } from '../helpers/cli.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** Job 1 prints, then waits for job 2 to let it go; job 2 prints around letting it go: their lines interleave. */
async function interleaving(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-group-'));
  dirs.push(dir);
  await promisify(execFile)('mkfifo', [path.join(dir, 'gate')]);
  await writeFile(path.join(dir, 'hosts.yaml'), '- hostname: localhost\n  slot: [0, 1]\n');
  await writeFile(path.join(dir, 'queue.yaml'), '- echo one-a; read x < gate; echo one-b\n- echo two-a; echo go > gate; echo two-b\n');
  return dir;
}

/** The job lines of stdout in order, as `label text`. */
function jobLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('['));
}

/** Each block: a run frame, its lines, a done frame, all from one sub-node, one after another. */
function blocks(stdout: string): string[][] {
  const out: string[][] = [];
  let current: string[] | undefined;
  for (const line of jobLines(stdout)) {
    if (/ === run /.test(line)) {
      assert.equal(current, undefined, `a block started inside another:\n${stdout}`);
      current = [line];
    } else {
      assert.ok(current, `a line outside any block: ${line}\n${stdout}`);
      assert.equal(line.split(']')[0], current[0]?.split(']')[0], `a line of another sub-node inside a block:\n${stdout}`);
      current.push(line);
      if (/ === done /.test(line)) {
        out.push(current);
        current = undefined;
      }
    }
  }
  return out;
}

test('without --group the two jobs interleave; with --group each job is one block', async () => {
  const plain = await runPegasus(['q', '--plain'], { cwd: await interleaving() });
  assert.equal(plain.code, 0, plain.stderr);
  assert.throws(() => blocks(plain.stdout), 'interleaved by default (this is what --group fixes)');

  const result = await runPegasus(['q', '--plain', '--group'], { cwd: await interleaving() });
  assert.equal(result.code, 0, result.stderr);
  const found = blocks(result.stdout).map((b) => b.map((l) => l.replace(/^\[[^\]]+\] /, '')));
  assert.equal(found.length, 2);
  const one = found.find((b) => b.includes('one-a'));
  assert.deepEqual(one?.slice(1, 3), ['one-a', 'one-b']);
  const two = found.find((b) => b.includes('two-a'));
  assert.deepEqual(two?.slice(1, 3), ['two-a', 'two-b']);
});

test('--keep-order prints the blocks in queue order even when the second job ends first', async () => {
  const result = await runPegasus(['q', '--plain', '--keep-order'], { cwd: await interleaving() });
  assert.equal(result.code, 0, result.stderr);
  const found = blocks(result.stdout);
  assert.equal(found.length, 2);
  assert.match(found[0]?.[0] ?? '', /=== run echo one-a/);
  assert.match(found[1]?.[0] ?? '', /=== run echo two-a/);
});

test('a block too big to hold is read back from the log file, complete and in order', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-group-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), '- hostname: localhost\n  slot: [0, 1]\n');
  // About 2.3 MB of output, past the 1 MiB a block may hold, and a short job beside it.
  await writeFile(path.join(dir, 'queue.yaml'), '- seq 1 300000; echo oops >&2\n- echo short\n');
  const result = await runPegasus(['q', '--plain', '--group'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  const found = blocks(result.stdout);
  const big = found.find((b) => /=== run seq/.test(b[0] ?? ''));
  assert.ok(big);
  const body = big.slice(1, -1).map((l) => l.replace(/^\[[^\]]+\] /, ''));
  assert.equal(body.length, 300001);
  assert.equal(body[0], '1');
  assert.equal(body[299999], '300000');
  assert.equal(body[300000], 'oops');
  assert.ok(body.slice(0, 300000).every((l, i) => l === String(i + 1)), 'every line, in order');
});
