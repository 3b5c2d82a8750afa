// The `pegasus` command loads its bundle with V8's code cache (issue 17): the build leaves a cache that runs use as it is, and a
// missing or unusable cache (another Node, a damaged file) costs only time: the run works and leaves a fresh cache behind.
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { CLI, runPegasus } from '../helpers/cli.js';
import { workspaces } from '../helpers/workspace.js';

const workspace = workspaces('pegasus-launcher-', '- localhost\n');
const BIN = path.dirname(CLI);
const CACHE = 'pegasus-main.cache';
const copies: string[] = [];
after(async () => Promise.all(copies.map((d) => rm(d, { recursive: true, force: true }))));

/** A copy of dist/bin beside it (so it finds node_modules and package.json as the real one does). */
async function copyOfBin(): Promise<string> {
  const dir = await mkdtemp(path.join(path.dirname(BIN), 'bin-copy-'));
  copies.push(dir);
  await cp(BIN, dir, { recursive: true });
  return dir;
}

/** The file's inode: a cache the launcher rewrites gets a new one (it writes a temporary file and renames it). */
const inode = async (file: string): Promise<number> => (await stat(file)).ino;

test('the build leaves a code cache that the pegasus command uses as it is', async () => {
  const before = await inode(path.join(BIN, CACHE));
  const result = await runPegasus(['--version'], { cwd: path.dirname(BIN) });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(await inode(path.join(BIN, CACHE)), before, 'V8 rejected the cache the build wrote, so the run wrote another');
});

for (const kind of ['missing', 'damaged'] as const) {
  test(`with its code cache ${kind}, pegasus runs as usual and leaves a cache that the next run uses`, async () => {
    const bin = await copyOfBin();
    const cache = path.join(bin, CACHE);
    if (kind === 'missing') await rm(cache);
    else await writeFile(cache, Buffer.alloc(4096, 0x5a));
    const dir = await workspace('- command: echo {{word}}\n  word: [hello]\n');
    const first = await runPegasus(['q', '--plain'], { cwd: dir, cli: path.join(bin, 'pegasus.cjs') });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^\[localhost\] hello$/m);
    assert.doesNotMatch(first.stderr, /warning|error/i);
    const written = await readFile(cache);
    assert.ok(written.length > 4096 && !written.equals(Buffer.alloc(written.length, 0x5a)), 'no fresh cache was written');
    const fresh = await inode(cache);

    await writeFile(path.join(dir, 'queue.yaml'), '- echo again\n');
    const second = await runPegasus(['q', '--plain'], { cwd: dir, cli: path.join(bin, 'pegasus.cjs') });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^\[localhost\] again$/m);
    assert.equal(await inode(cache), fresh, 'the second run rejected the cache the first one wrote');
  });
}
