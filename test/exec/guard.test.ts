// The host guard script on its own (run by a local sh): jobs register through its fifo; cancel, a cancel before registration, signal deaths and EOF each stop whole process groups.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { GUARD } from '../../src/exec/guard.js';
import { PROBE_ECHO, PROBE_WORD } from '../../src/exec/login-shell.js';
import { shellQuote } from '../../src/exec/wrapper.js';
import { hasExited, stopChild, track } from '../helpers/pids.js';
import { descendantsOf, liveInGroup, waitGone, waitGroupGone } from '../helpers/procs.js';

const children: ChildProcess[] = [];
after(async () => {
  // The guards first, by EOF as pegasus ends them, and given the time to remove their fifos: a
  // signal to a guard's group would also hit its `rm`.
  const guards = children.filter((c) => c.stdin && !hasExited(c));
  for (const guard of guards) guard.stdin!.end();
  await Promise.all(guards.map((g) => Promise.race([once(g, 'exit'), new Promise((resolve) => setTimeout(resolve, 10_000))])));
  for (const child of children) await stopChild(child, { group: true });
});

/** Starts the guard as a login shell would (the probe word as $1); resolves with its stdin and the fifo path it printed after the probe's line. */
async function startGuard(env: NodeJS.ProcessEnv = process.env, before = ''): Promise<{ guard: ChildProcess; fifo: string }> {
  // `before` runs first in the same process (exec keeps the pid the guard names its fifo by).
  const script = before === '' ? GUARD : `${before}\nexec sh -c ${shellQuote(GUARD)} pegasus-guard "$1"`;
  const guard = spawn('sh', ['-c', script, 'pegasus-guard', PROBE_WORD], { stdio: ['pipe', 'pipe', 'inherit'], detached: true, env });
  track(guard, 'guard', { group: true });
  children.push(guard);
  let text = '';
  while (!/\.fifo\n/.test(text)) text += ((await once(guard.stdout!, 'data')) as [Buffer])[0].toString('utf8');
  assert.ok(text.startsWith(PROBE_ECHO), 'the guard first gives the probe word back');
  return { guard, fifo: text.slice(PROBE_ECHO.length).trim() };
}

/** Starts a job the way a guarded exec does: its shell leads its own group, registers, then runs the job. Resolves with its pgid once its tree exists. */
async function startJob(fifo: string, token: number, job = 'sleep 300 & sleep 300 & echo ready; wait'): Promise<number> {
  const f = shellQuote(fifo);
  const child = spawn('sh', ['-c', `echo "+ ${token} $$" 1<>${f}; exec sh -c ${shellQuote(job)}`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  track(child, `job ${token}`, { group: true });
  children.push(child);
  await once(child.stdout!, 'data');
  return child.pid!;
}

/** Starts a job whose cancel was sent before it registered; resolves with the signal that ended its shell once its group is gone. */
async function startCancelledJob(fifo: string, token: number): Promise<string | null> {
  const child = spawn('sh', ['-c', `echo "+ ${token} $$" 1<>${shellQuote(fifo)}; exec sh -c 'sleep 300 & sleep 300; wait'`], { stdio: 'ignore', detached: true });
  track(child, `job ${token}`, { group: true });
  children.push(child);
  const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
  await waitGroupGone(child.pid!, AbortSignal.timeout(10_000));
  return signal;
}

test('k T stops job T as a whole tree; the others keep running', async () => {
  const { guard, fifo } = await startGuard();
  const one = await startJob(fifo, 1);
  const two = await startJob(fifo, 2);
  assert.ok((await liveInGroup(one)).length >= 3);
  guard.stdin!.write('k 1\n');
  await waitGroupGone(one, AbortSignal.timeout(10_000));
  assert.ok((await liveInGroup(two)).length >= 3, 'job 2 is untouched');
  guard.stdin!.write('k 2\n');
  await waitGroupGone(two, AbortSignal.timeout(10_000));
});

test('a cancel that arrives before its job registered is carried out when it does', async () => {
  const { guard, fifo } = await startGuard();
  guard.stdin!.write('k 7\n');
  assert.equal(await startCancelledJob(fifo, 7), 'SIGTERM');
});

test('EOF on its stdin (pegasus gone) stops every registered job, but not one that ended, and removes its fifo', async () => {
  const { guard, fifo } = await startGuard();
  const running = await startJob(fifo, 1);
  const ended = await startJob(fifo, 2, 'sleep 300 & echo ready; exit 0');
  const exited = once(guard, 'exit') as Promise<[number]>;
  guard.stdin!.write('- 2\n');
  guard.stdin!.end();
  await waitGroupGone(running, AbortSignal.timeout(10_000));
  const [code] = await exited;
  assert.equal(code, 0);
  assert.equal(existsSync(fifo), false, 'the fifo is removed');
  assert.ok((await liveInGroup(ended)).length >= 1, 'what a finished job left running is not the guard\'s to stop');
});

test('TERM to the guard itself stops its jobs and removes its fifo, as EOF does', async () => {
  const { guard, fifo } = await startGuard();
  const pgid = await startJob(fifo, 8);
  const exited = once(guard, 'exit') as Promise<[number | null, string | null]>;
  guard.kill('SIGTERM');
  await waitGroupGone(pgid, AbortSignal.timeout(10_000));
  await exited;
  assert.equal(existsSync(fifo), false, 'the fifo is removed');
});

test('a guard that is SIGKILLed leaves no ticker behind, and its fifo is removed within a tick', async () => {
  const { guard, fifo } = await startGuard();
  const helpers = await descendantsOf([guard.pid!]);
  assert.ok(helpers.length >= 2, 'the forwarder and the ticker run');
  guard.kill('SIGKILL');
  guard.stdin!.end(); // the forwarder ends on EOF, as when the connection closes
  await waitGone(helpers, AbortSignal.timeout(15_000));
  assert.equal(existsSync(fifo), false, 'the fifo is removed');
});

test("a fifo left with the guard's name (a guard killed with its ticker, the pid reused) does not stop the guard: it takes the next name", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pegasus-guard-test-'));
  try {
    const { guard, fifo } = await startGuard({ ...process.env, TMPDIR: dir }, 'mkfifo "$TMPDIR/pegasus-guard.$$.fifo"');
    assert.equal(fifo, path.join(dir, `pegasus-guard.${guard.pid}.1.fifo`));
    const job = await startJob(fifo, 1);
    const exited = once(guard, 'exit');
    guard.stdin!.end();
    await waitGroupGone(job, AbortSignal.timeout(15_000));
    await exited;
    assert.equal(existsSync(fifo), false, 'its own fifo is removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('s T (the job died of a signal) stops what is left of its group', async () => {
  const { guard, fifo } = await startGuard();
  const pgid = await startJob(fifo, 3, 'sleep 300 & echo ready; kill -KILL $$');
  assert.ok((await liveInGroup(pgid)).length >= 1, 'the orphaned sleep runs on');
  guard.stdin!.write('s 3\n');
  await waitGroupGone(pgid, AbortSignal.timeout(10_000));
});

test('lines that are not tokens and pids never reach eval', async () => {
  const { guard, fifo } = await startGuard();
  const pgid = await startJob(fifo, 4);
  guard.stdin!.write('k 4;touch /tmp/pegasus-guard-injected\n+ 5 $(touch /tmp/pegasus-guard-injected)\n');
  // The forwarder keeps pegasus's lines in order: once job 6 is cancelled, the lines above were read.
  guard.stdin!.write('k 6\n');
  await startCancelledJob(fifo, 6);
  assert.ok((await liveInGroup(pgid)).length >= 3, 'a malformed cancel does nothing');
  assert.equal(existsSync('/tmp/pegasus-guard-injected'), false);
  guard.stdin!.write('k 4\n');
  await waitGroupGone(pgid, AbortSignal.timeout(10_000));
});

test('the probe line and the fifo path go out in one write, so sshd sends them in one packet (issue 17)', async () => {
  // With two writes, sshd (Nagle on for a session without a tty) held the second until pegasus's
  // delayed ACK of the first: 40 ms of a guard's start. strace shows the writes the shell makes.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pegasus-guard-test-'));
  try {
    const log = path.join(dir, 'writes');
    const guard = spawn('strace', ['-f', '-qq', '-e', 'trace=write', '-e', 'signal=none', '-s', '4096', '-o', log, 'sh', '-c', GUARD, 'pegasus-guard', 'word'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
    });
    track(guard, 'strace guard', { group: true });
    children.push(guard);
    let text = '';
    while (!/\.fifo\n/.test(text)) text += ((await once(guard.stdout!, 'data')) as [Buffer])[0].toString('utf8');
    const exited = once(guard, 'exit');
    guard.stdin!.end();
    await exited;
    const toStdout = readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => /^\d+\s+write\(1, /.test(line));
    assert.ok(toStdout.length >= 1, `strace saw the guard's writes:\n${readFileSync(log, 'utf8')}`);
    assert.match(toStdout[0]!, /write\(1, "pegasus-probe:word:end\\n\/.*\.fifo\\n", \d+\)/, 'the first write to stdout holds both lines');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a guard that cannot make its fifo still gives the probe line back, then ends with 97', async () => {
  // Which dialect the login shell needs is learnt from the guard's start even where the guard cannot run.
  const guard = spawn('sh', ['-c', GUARD, 'pegasus-guard', PROBE_WORD], {
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
    env: { ...process.env, TMPDIR: '/nonexistent/pegasus-guard-test' },
  });
  track(guard, 'guard', { group: true });
  children.push(guard);
  let text = '';
  guard.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const [code] = (await once(guard, 'exit')) as [number];
  assert.equal(code, 97);
  assert.equal(text, PROBE_ECHO);
});
