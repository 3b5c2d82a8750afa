// Hosts whose users log in with bash, dash, zsh, fish, tcsh, csh, mksh or BusyBox ash (issue 13): every job runs as sh -c runs it, reports its real status, and stops as a tree, under the host guard and under the per-job wrapper; a shell that runs nothing is reported and no job counts as run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { runPegasus, startPegasus } from '../helpers/cli.js';
import { aliasBlock, ensureShellUser, startFleet, type Fleet } from '../helpers/fleet.js';
import { liveInGroup, signalQuietly, waitGroupGone } from '../helpers/procs.js';

const run = promisify(execFile);
const SHELLS = ['bash', 'dash', 'zsh', 'fish', 'tcsh', 'csh', 'mksh', 'ash'] as const;

/**
 * The quoting set: each job writes what it made of its text to a file of its own. What the same
 * text writes under a local `sh -c` is the reference, byte for byte. `D` is the output folder.
 */
const QUOTING: readonly string[] = [
  `printf '%s\\n' "double \\"quoted\\" \\$HOME" 'single '"'"'quoted'"'"'' > D/01`,
  "printf '%s\\n' 'back\\slash \\n' \"tab\tx\" '$(not run)' \"`echo sub`\" > D/02",
  `echo "$((6 * 7))" > D/03 # a comment`,
  `cat > D/04 <<'EOF'\nheredoc 'kept' "as is" $HOME \\n\nEOF`,
  `x=val; cat > D/05 <<EOF\n$x \\$x "$x"\nEOF`,
  `echo 'héllo ☃ wörld' > D/06`,
  `echo hi! !! '!x' "!y" > D/07`,
  `printf '%s %%d %s\\n' a b > D/08`,
  `echo one \\\n  two > D/09`,
  `echo "[$0] [$#]" > D/10`,
  `cd D && touch g1 g2 && echo g* {a,b} '*' "~" '~' > D/11`,
  `(exit 3); echo "status $?" | tr a-z A-Z > D/12`,
  `printf -- '-n\\n\\n\\n' > D/13`,
  `printf '%s\\n' '\\\\' "\\\\" '\\'"'"'' > D/14`,
  `set -- a 'b c'; for w in "$@"; do echo "<$w>"; done > D/15; if [ -n "$PS1" ]; then echo interactive >> D/15; fi`,
  `printf '%s' '${'a\\b\n'.repeat(6000)}' | wc -c > D/16`,
];

/** The queue: the quoting set, then a job that exits 7, one that kills itself, one that outlives its timeout. */
function queueFor(out: string): string {
  const entries = QUOTING.map((c) => `- |\n${c.replaceAll('D/', `${out}/`).replaceAll('cd D', `cd ${out}`).replace(/^/gm, '  ')}\n`);
  entries.push('- exit 7\n', '- kill -TERM $$\n', '- command: echo pgid=$$; sleep 300 & sleep 300; wait\n  timeout: 1s\n');
  return entries.join('');
}

let fleet: Fleet;
let wrapperFleet: Fleet;
const dirs: string[] = [];
/** An ssh config with an alias per shell (`fish-node`, …) for the guard fleet, and one (`fish-wrapped`, …) for a host without a writable TMPDIR. */
let sshConfig: string;
let reference: Map<string, Buffer>;

before(async () => {
  [fleet, wrapperFleet] = await Promise.all([
    startFleet({ hosts: 1 }),
    // No writable TMPDIR: the guard cannot make its fifo, so jobs run in the per-job wrapper.
    startFleet({ hosts: 1, sshdConfig: ['SetEnv TMPDIR=/nonexistent/pegasus-test'] }),
  ]);
  const blocks: string[] = [];
  for (const shell of [...SHELLS, 'nologin']) {
    const user = await ensureShellUser(shell);
    blocks.push(aliasBlock(fleet, fleet.hosts[0]!, `${shell}-node`, user));
    blocks.push(aliasBlock(wrapperFleet, wrapperFleet.hosts[0]!, `${shell}-wrapped`, user));
  }
  const dir = await scratch();
  sshConfig = path.join(dir, 'ssh_config');
  await writeFile(sshConfig, blocks.join('\n'));
  reference = await runLocally(QUOTING);
});
after(async () => {
  await Promise.all([fleet?.stop(), wrapperFleet?.stop()]);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-shells-'));
  dirs.push(dir);
  await chmod(dir, 0o777); // the jobs run as the shells' users and write here
  return dir;
}

/** What each command of the set writes under a plain local `sh -c`. */
async function runLocally(commands: readonly string[]): Promise<Map<string, Buffer>> {
  const out = await scratch();
  for (const command of commands) await run('sh', ['-c', command.replaceAll('D/', `${out}/`).replaceAll('cd D', `cd ${out}`)], { cwd: out });
  return outputs(out);
}

async function outputs(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir)).filter((n) => /^\d\d$/.test(n)).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(path.join(dir, n))] as [string, Buffer])));
}

async function workspace(host: string, queue: string) {
  const dir = await scratch();
  await writeFile(path.join(dir, 'hosts.yaml'), `- ${host}\n`);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return { dir, args: ['q', '--plain', '--ssh-config', sshConfig] };
}

for (const shell of SHELLS) {
  for (const how of ['node', 'wrapped'] as const) {
    const host = `${shell}-${how}`;
    const under = how === 'node' ? 'the host guard' : 'the per-job wrapper';
    test(`login shell ${shell}, under ${under}: the quoting set runs as sh -c runs it; exit status, signal and timeout come out right`, async () => {
      const out = await scratch();
      await mkdir(out, { recursive: true });
      const ws = await workspace(host, queueFor(out));
      const result = await runPegasus(ws.args, { cwd: ws.dir });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`${QUOTING.length + 3} jobs run, ${QUOTING.length} succeeded, 3 failed`), result.stderr);
      assert.deepEqual(await outputs(out), reference, 'every output file as a local sh -c wrote it');
      assert.match(result.stdout, new RegExp(`^\\[${host}\\] === done \\(exit 7, [\\d.]+s\\) ===$`, 'm'));
      assert.match(result.stdout, new RegExp(`^\\[${host}\\] === done \\(signal SIGTERM, [\\d.]+s\\) ===$`, 'm'), 'the signal named once');
      assert.match(result.stdout, new RegExp(`^\\[${host}\\] === timed out after [\\d.]+s, stopped ===$`, 'm'));
      const pgid = Number(/pgid=(\d+)/.exec(result.stdout)?.[1]);
      assert.ok(pgid > 1, result.stdout);
      assert.deepEqual(await liveInGroup(pgid), [], 'the timed-out job left nothing running');
    });

    test(`login shell ${shell}, under ${under}: pegasus SIGKILLed mid-job leaves nothing of the job running`, async () => {
      const ws = await workspace(host, '- echo pgid=$$; sleep 300 & sleep 300; wait\n');
      const pegasus = startPegasus(ws.args, { cwd: ws.dir });
      const match = await pegasus.stdout(/pgid=(\d+)/);
      const pgid = Number(match[1]);
      assert.ok(pgid > 1, pegasus.output().stdout + pegasus.output().stderr);
      assert.notDeepEqual(await liveInGroup(pgid), [], 'the job runs');
      signalQuietly(pegasus.pid, 'SIGKILL');
      await pegasus.exited;
      // The connection closes with pegasus: the guard (or the wrapper) sees EOF and stops the tree.
      await waitGroupGone(pgid, AbortSignal.timeout(30_000));
    });
  }
}

test('start-up files that print (.bashrc, config.fish, .tcshrc) do not stop jobs from running: their text shows up in the output, as with ssh', async () => {
  const rc: Record<string, string> = { bash: '.bashrc', fish: '.config/fish/config.fish', tcsh: '.tcshrc' };
  const blocks: string[] = [];
  for (const [shell, file] of Object.entries(rc)) {
    const user = await ensureShellUser(shell, 'noisy');
    const home = (await run('sh', ['-c', `getent passwd ${user} | cut -d: -f6`])).stdout.trim();
    await mkdir(path.dirname(path.join(home, file)), { recursive: true });
    await writeFile(path.join(home, file), `echo ${shell}-rc-says-hi\n`);
    await run('chown', ['-R', `${user}:`, home]);
    blocks.push(aliasBlock(fleet, fleet.hosts[0]!, `${shell}-noisy`, user));
  }
  for (const shell of Object.keys(rc)) {
    const ws = await workspace(`${shell}-noisy`, '- command: echo job {{n}} ran\n  n: [1, 2]\n');
    await writeFile(path.join(ws.dir, 'ssh_config'), blocks.join('\n'));
    const result = await runPegasus(['q', '--plain', '--ssh-config', path.join(ws.dir, 'ssh_config')], { cwd: ws.dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /2 jobs run, 2 succeeded/);
    assert.match(result.stdout, new RegExp(`^\\[${shell}-noisy\\] job 2 ran$`, 'm'), `${shell} ran jobs`);
    assert.match(result.stdout, new RegExp(`^\\[${shell}-noisy\\] ${shell}-rc-says-hi$`, 'm'));
  }
});

test('a user whose login shell runs nothing (nologin) is reported by host and shell; no job runs or counts there, the other host drains the queue', async () => {
  const ws = await workspace('nologin-node', '- echo must not run\n');
  const alone = await runPegasus(ws.args, { cwd: ws.dir });
  assert.equal(alone.code, 1, alone.stderr);
  assert.match(alone.stderr, /host nologin-node: the login shell of pegasus-sh-nologin@nologin-node cannot run pegasus's commands.*This account is currently not available.*chsh -s \/bin\/bash pegasus-sh-nologin/s);
  assert.doesNotMatch(alone.stderr, /1 succeeded/);
  assert.equal(await readFile(path.join(ws.dir, 'queue.yaml'), 'utf8'), '- echo must not run\n', 'the job is still queued');

  const both = await workspace('nologin-node', '- command: echo ran {{n}}\n  n: [1, 2, 3]\n');
  await writeFile(path.join(both.dir, 'hosts.yaml'), '- nologin-node\n- dash-node\n');
  const result = await runPegasus(both.args, { cwd: both.dir });
  assert.match(result.stderr, /host nologin-node: the login shell/);
  assert.match(result.stderr, /3 jobs run, 3 succeeded, 0 failed/);
  assert.equal([...result.stdout.matchAll(/^\[dash-node\] ran \d$/gm)].length, 3);
  assert.doesNotMatch(result.stdout, /^\[nologin-node\] ===/m);
});
