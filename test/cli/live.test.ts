// The live view in a real terminal (tmux): what a person sees while jobs run, and that the panel is gone after exit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { CLI } from '../helpers/cli.js';
import { signalQuietly, waitGone } from '../helpers/procs.js';

const run = promisify(execFile);
const socket = `pegasus-live-test-${process.pid}`;
const dirs: string[] = [];
let serverPid: number | undefined;

async function tmux(...args: string[]): Promise<string> {
  return (await run('tmux', ['-L', socket, '-f', '/dev/null', ...args])).stdout;
}

after(async () => {
  // The tmux server and everything in it, by PID.
  if (serverPid !== undefined) {
    signalQuietly(serverPid, 'SIGTERM');
    await waitGone([serverPid], AbortSignal.timeout(10_000));
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** What the pane shows now (`escapes`: with colour codes). */
async function screen(escapes = false): Promise<string> {
  return tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', 'live');
}

/** Waits until the pane shows what `predicate` wants: a terminal has no event to wait on, so it is read again every 100 ms. */
async function screenUntil(predicate: (text: string) => boolean, what: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const text = await screen();
    if (predicate(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the terminal never showed ${what}:\n${await screen()}`);
}

test('in a terminal: coloured prefixed output above a live panel of sub-nodes and totals; after exit the panel is gone and the summary stays', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-live-'));
  dirs.push(dir);
  await run('mkfifo', [path.join(dir, 'gate')]);
  await writeFile(path.join(dir, 'hosts.yaml'), '- hostname: localhost\n  slot: [0, 1]\n');
  // The first job holds its sub-node until the test writes to the fifo; the others run on the second sub-node.
  await writeFile(path.join(dir, 'queue.yaml'), '- echo started; read line < gate; echo released $line\n- echo quick; exit 3\n- echo after\n');
  const command = `cd ${dir} && env -u CI TERM=xterm-256color ${process.execPath} ${CLI} q; echo EXIT=$?; exec cat`;
  await tmux('new-session', '-d', '-s', 'live', '-x', '100', '-y', '30', command);
  serverPid = Number((await tmux('display-message', '-p', '-t', 'live', '#{pid}')).trim());

  // Output reaches the screen in batches (every 50 ms), the panel on every event: wait for both.
  const running = await screenUntil(
    (t) => /^done 1 · failed 1 · running 1/m.test(t) && /^\[localhost \(slot=1\)\] === done/m.test(t),
    'the totals and the output after two jobs',
  );
  assert.match(running, /^── pegasus q · queue\.yaml · 2 sub-nodes · \d+s ─+$/m, running);
  assert.match(running, /^● localhost \(slot=0\)\s+\d+s {2}#1 echo started; read line < gate; echo released \$line$/m);
  assert.match(running, /^○ localhost \(slot=1\) {2}idle$/m);
  assert.match(running, /^\[localhost \(slot=0\)\] started$/m);
  assert.match(running, /^\[localhost \(slot=1\)\] quick$/m);
  assert.match(running, /^\[localhost \(slot=1\)\] === done \(exit 3, [\d.]+s\) ===$/m);
  const panelAt = running.split('\n').findIndex((l) => l.startsWith('── pegasus q'));
  const lastOutput = running.split('\n').findLastIndex((l) => l.startsWith('[localhost'));
  assert.ok(lastOutput < panelAt, 'output streams above the panel');
  assert.match(await screen(true), /\u001b\[\d+m\[localhost \(slot=0\)\]/, 'prefixes are coloured');

  await writeFile(path.join(dir, 'gate'), 'now\n');
  const done = await screenUntil((t) => /^EXIT=\d+$/m.test(t), 'the exit status');
  assert.match(done, /^EXIT=1$/m);
  assert.match(done, /^\[localhost \(slot=0\)\] released now$/m);
  assert.match(done, /^pegasus: 3 jobs run, 2 succeeded, 1 failed \([\d.]+s\)\.$/m);
  assert.match(done, /^ {2}FAILED \[localhost \(slot=1\)\] done \(exit 3, [\d.]+s\): echo quick; exit 3$/m);
  assert.doesNotMatch(done, /── pegasus q|^done \d+ · failed|^[●○]/m, 'no panel is left on the screen');
});
