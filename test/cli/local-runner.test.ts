// The local job runner (issue 17): local jobs are forked by one Perl process. Commands reach sh byte for byte (a NUL fails the job, not the run), a runner that dies fails only
// the jobs it held (and stops them), and without perl pegasus spawns local jobs itself, still stopped as trees when it is SIGKILLed.
import assert from 'node:assert/strict';
import { symlink, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { workspaces } from '../helpers/workspace.js';
import { runPegasus, startPegasus } from '../helpers/cli.js';
import { descendantsOf, liveMatching, procState, waitGroupGone, waitNoneMatching } from '../helpers/procs.js';

const workspace = workspaces('pegasus-runner-', '- localhost\n');

/** A PATH with the tools the jobs use and no perl. */
async function pathWithoutPerl(dir: string): Promise<string> {
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  for (const tool of ['sh', 'sleep', 'cat', 'printf']) {
    for (const where of ['/usr/bin', '/bin']) {
      try {
        await symlink(path.join(where, tool), path.join(bin, tool));
        break;
      } catch {
        // not there: the next place
      }
    }
  }
  return bin;
}

/** The runner: pegasus's child running perl. */
/** This process's descriptors above 2 without close-on-exec: every child it starts has them too. */
async function inheritable(): Promise<number[]> {
  const fds = (await readdir('/proc/self/fdinfo')).map(Number).filter((fd) => fd > 2);
  const open = await Promise.all(
    fds.map(async (fd) => {
      const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
      const flags = /^flags:\s+([0-7]+)$/m.exec(info)?.[1];
      return flags !== undefined && (parseInt(flags, 8) & 0o2000000) === 0 ? fd : undefined;
    }),
  );
  return open.filter((fd): fd is number => fd !== undefined);
}

async function runnerOf(pegasusPid: number): Promise<number | undefined> {
  for (const pid of await descendantsOf([pegasusPid])) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('perl\0-e\0')) return pid;
  }
  return undefined;
}

test('a local command reaches sh byte for byte: several lines, quotes, non-ASCII text; its output and exit status come back', async () => {
  const dir = await workspace(
    [
      '- |-',
      '  printf "%s\\n" "é ü 😀 ✓"',
      `  printf '%s\\n' 'a "b" $HOME \\n c'`,
      '  echo to-stderr >&2',
      '  exit 7',
      '- printf "no newline at the end"',
      '',
    ].join('\n'),
  );
  const result = await runPegasus(['q', '--plain'], { cwd: dir });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stdout, /^\[localhost\] é ü 😀 ✓$/m);
  assert.match(result.stdout, /^\[localhost\] a "b" \$HOME \\n c$/m);
  assert.match(result.stdout, /^\[localhost\] to-stderr$/m);
  assert.match(result.stdout, /^\[localhost\] === done \(exit 7, [\d.]+s\) ===$/m);
  assert.match(result.stdout, /^\[localhost\] no newline at the end$/m);
  assert.match(result.stderr, /1 succeeded, 1 failed/);
});

test('a local job starts as a fresh process would: no signal ignored or blocked, stdin /dev/null, no file of the runner left open', async () => {
  const dir = await workspace(["- grep -E '^Sig(Ign|Blk):' /proc/self/status; readlink /proc/self/fd/0; ls /proc/self/fd | tr '\\n' ' '", ''].join('\n'));
  const result = await runPegasus(['q', '--plain'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  // The runner drops INT, HUP and PIPE itself; a job that inherited that could not be stopped by Ctrl-C or a closed pipe.
  assert.match(result.stdout, /^\[localhost\] SigIgn:\s+0+$/m);
  assert.match(result.stdout, /^\[localhost\] SigBlk:\s+0+$/m);
  assert.match(result.stdout, /^\[localhost\] \/dev\/null$/m);
  // 0, 1, 2, the directory ls reads, and what this test process was itself given to pass on (a CI
  // runner's descriptors without close-on-exec): the runner's own pipes and files close on exec.
  const fds = /^\[localhost\] ((?:\d+ )+)$/m.exec(result.stdout)?.[1]?.trim().split(' ').map(Number);
  const expected = [0, 1, 2, 3, ...(await inheritable())];
  assert.deepEqual(new Set(fds), new Set(expected), result.stdout);
});

test('the runner killed under a running job: that job fails with a message and is stopped as a tree; the next job still runs', async () => {
  const dir = await workspace('');
  const marker = `${dir}/marker`;
  await writeFile(path.join(dir, 'queue.yaml'), `- sleep 300 & echo pgid=$$; wait; echo ${marker}\n- echo next ran\n`);
  const pegasus = startPegasus(['q', '--plain'], { cwd: dir });
  const pgid = Number((await pegasus.stdout(/pgid=(\d+)/))[1]);
  const runner = await runnerOf(pegasus.pid);
  assert.ok(runner !== undefined, 'a perl runner under pegasus');
  process.kill(runner, 'SIGKILL');
  const result = await pegasus.exited;
  assert.match(result.stdout, /the local job runner \(perl\) stopped \(killed by SIGKILL\); this job was stopped with it/);
  assert.match(result.stdout, /^\[localhost\] next ran$/m);
  assert.match(result.stderr, /2 jobs run, 1 succeeded, 1 failed/);
  await waitGroupGone(pgid, AbortSignal.timeout(15_000));
  await waitNoneMatching(marker, AbortSignal.timeout(15_000));
});

test('without perl on PATH: local jobs run, and a SIGKILLed pegasus still leaves nothing of them running', async () => {
  const dir = await workspace('- printf "%s\\n" "ran without perl"\n');
  const env = { PATH: await pathWithoutPerl(dir) };
  const first = await runPegasus(['q', '--plain'], { cwd: dir, env });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^\[localhost\] ran without perl$/m);

  const marker = `${dir}/marker`;
  await writeFile(path.join(dir, 'queue.yaml'), `- sleep 300 & sleep 300 & echo pgid=$$; wait; echo ${marker}\n`);
  const pegasus = startPegasus(['q', '--plain'], { cwd: dir, env });
  const pgid = Number((await pegasus.stdout(/pgid=(\d+)/))[1]);
  assert.equal(await runnerOf(pegasus.pid), undefined, 'no perl runner');
  assert.ok((await liveMatching(marker)).length > 0);
  assert.notEqual(procState(pgid), undefined);
  process.kill(pegasus.pid, 'SIGKILL');
  await pegasus.exited;
  await waitGroupGone(pgid, AbortSignal.timeout(15_000));
  await waitNoneMatching(marker, AbortSignal.timeout(15_000));
});

test('a local command holding a NUL character fails with a message saying so; the run goes on to the next job', async () => {
  const dir = await workspace('- "echo a\\0b"\n- echo after\n');
  const result = await runPegasus(['q', '--plain'], { cwd: dir });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stdout, /^\[localhost\] pegasus: the command contains a NUL character \(\\0\), which no shell command can hold; it was not run$/m);
  assert.match(result.stdout, /^\[localhost\] === done \(exit 127, [\d.]+s\) ===$/m);
  assert.match(result.stdout, /^\[localhost\] after$/m);
  assert.doesNotMatch(result.stderr, /internal error/);
});
