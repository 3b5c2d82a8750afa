// `pegasus q` end to end on localhost sub-nodes: what a user sees on screen, in the files, and in the exit code.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runPegasus } from '../helpers/cli.js';
import { liveInGroup } from '../helpers/procs.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function workspace(files: Record<string, string>): Promise<{ dir: string; read: (name: string) => Promise<string> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-cli-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return { dir, read: (name) => readFile(path.join(dir, name), 'utf8').catch(() => '<missing>') };
}

const TWO_LOCAL = '- hostname: localhost\n  slot: [0, 1]\n';

test('dry run: the Pegasus quiz shows 9 jobs with their parameters and touches no file', async () => {
  const queue = '- echo hi from {{ hostname }}\n- command:\n    - for i in $(seq {{ low }} {{ high }}); do echo $i; done\n    - echo bye from {{ hostname }}\n  low: [1, 2]\n  high: [3, 4]\n';
  const ws = await workspace({ 'hosts.yaml': TWO_LOCAL, 'queue.yaml': queue });
  const result = await runPegasus(['q', '--dry-run'], { cwd: ws.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^sub-nodes \(2\):\n  \[localhost \(slot=0\)\]\n  \[localhost \(slot=1\)\]\n/);
  assert.match(result.stdout, /^jobs \(9\):$/m);
  assert.match(result.stdout, /^  9\. echo bye from \{\{ hostname \}\}   \(low=2, high=4\)$/m);
  assert.equal(await ws.read('queue.yaml'), queue);
  assert.equal(await ws.read('consumed.yaml'), '<missing>');
});

test('dry run reports an unknown template variable before anything runs', async () => {
  const ws = await workspace({ 'hosts.yaml': TWO_LOCAL, 'queue.yaml': '- echo ok\n- command: train --gpu {{gpu}}\n  lr: [1]\n' });
  const result = await runPegasus(['q', '--dry-run'], { cwd: ws.dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /queue\.yaml:2:3: The command template `train --gpu \{\{gpu\}\}` uses `\{\{gpu\}\}`, which is not defined on sub-node localhost \(slot=0\)\. Known variables: `hostname`, `slot`, `lr`, `slots`\./);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
});

test('a run drains the queue: framed, prefixed output, consumed.yaml in canonical form, comments kept, exit 0', async () => {
  const ws = await workspace({
    'hosts.yaml': TWO_LOCAL,
    'queue.yaml': '# my jobs\n- printf "a\\rb\\n"\n- command: echo lr={{lr}}\n  lr: [1e-3, 1.0]\n',
  });
  const result = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\[localhost \(slot=\d\)\] === run printf "a\\rb\\n" \(job \d+\) ===$/m);
  assert.match(result.stdout, /^\[localhost \(slot=\d\)\] a$/m);
  assert.match(result.stdout, /^\[localhost \(slot=\d\)\] b$/m);
  assert.match(result.stdout, /^\[localhost \(slot=\d\)\] lr=1e-3$/m);
  assert.match(result.stdout, /^\[localhost \(slot=\d\)\] lr=1\.0$/m);
  assert.match(result.stdout, /^\[localhost \(slot=\d\)\] === done \(exit 0, \d+\.\ds\) ===$/m);
  assert.equal(await ws.read('queue.yaml'), '# my jobs\n');
  assert.equal(await ws.read('consumed.yaml'), '- printf "a\\rb\\n"\n- command: echo lr={{lr}}\n  lr: 1e-3\n- command: echo lr={{lr}}\n  lr: 1.0\n');
  assert.match(result.stderr, /3 jobs run, 3 succeeded, 0 failed/);
});

test('a failing job makes the exit status 1 and is named in the summary', async () => {
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': '- "true"\n- sh -c "exit 7"\n' });
  const result = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /FAILED \[localhost\] done \(exit 7, [\d.]+s\): sh -c "exit 7"/);
});

test('malformed YAML: exit 2, file:line:col, the line, the fix; nothing consumed', async () => {
  const queue = '- echo a\n- command: [x, y\n- echo c\n';
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': queue });
  const result = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^pegasus: queue\.yaml:3:1: queue\.yaml is not valid YAML/);
  assert.match(result.stderr, /3 \| - echo c/);
  assert.equal(await ws.read('queue.yaml'), queue);
  assert.equal(await ws.read('consumed.yaml'), '<missing>');
});

test('an entry without command is found before anything runs: exit 2, the queue untouched', async () => {
  const queue = '- echo first\n- cmd: oops\n- echo never\n';
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': queue });
  const result = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(result.code, 2);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /queue\.yaml:2:3: A queue entry has no `command` key \(it has `cmd`\)/);
  assert.equal(await ws.read('queue.yaml'), queue);
});

test('a bad entry that appears during the run stops it there: it stays at the head, exit 2', async () => {
  // The first job appends a bad entry and a good one, as a careless edit would.
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': `- printf -- '- echo \\{{nope}}\\n- echo never\\n' >> queue.yaml\n` });
  const result = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(result.code, 2, result.stderr);
  assert.doesNotMatch(result.stdout, /=== run echo never/);
  assert.match(result.stderr, /queue\.yaml:1:3: The command template `echo \{\{nope\}\}` uses `\{\{nope\}\}`/);
  assert.match(result.stderr, /stopped at a bad queue entry \(queue\.yaml:1:3\); it is still at the head of the queue/);
  assert.equal(await ws.read('queue.yaml'), '- echo {{nope}}\n- echo never\n');
});

test('usage errors and missing files exit 2 with a message', async () => {
  const ws = await workspace({ 'queue.yaml': '- echo a\n' });
  const missingHosts = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(missingHosts.code, 2);
  assert.match(missingHosts.stderr, /Cannot read the hosts file hosts\.yaml/);
  const badFlag = await runPegasus(['q', '--print-period', 'x'], { cwd: ws.dir });
  assert.equal(badFlag.code, 2);
  const badMode = await runPegasus(['zz'], { cwd: ws.dir });
  assert.equal(badMode.code, 2);
});

test('a stale lock left by a killed process is taken over, with a message', async () => {
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': '- echo ran\n' });
  const lock = path.join(ws.dir, 'queue.yaml.lock');
  await mkdir(lock);
  const old = new Date(Date.now() - 60_000);
  await utimes(lock, old, old);
  const result = await runPegasus(['q'], { cwd: ws.dir });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /took over the queue lock .*queue\.yaml\.lock: its holder stopped refreshing it/);
  assert.match(result.stdout, /\[localhost\] ran/);
});

test('--print-period 2 shows every second line; 0 shows none', async () => {
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': '- seq 1 6\n- seq 1 6\n' });
  const result = await runPegasus(['q', '-p', '2'], { cwd: ws.dir });
  const shown = result.stdout.split('\n').filter((l) => /^\[localhost\] \d$/.test(l));
  assert.deepEqual(shown, ['[localhost] 2', '[localhost] 4', '[localhost] 6', '[localhost] 2', '[localhost] 4', '[localhost] 6']);
});

test('three pegasus processes on one queue never run an entry twice, and run every entry', async () => {
  const count = 90;
  // Each job holds its sub-node for 0.1 s, so one process alone would need seconds: the three
  // really share the queue (a faster job let the first one drain it before the others started).
  const queue = Array.from({ length: count }, (_, i) => `- echo ${i} >> ran.txt; sleep 0.1\n`).join('');
  const ws = await workspace({ 'hosts.yaml': TWO_LOCAL, 'queue.yaml': queue });
  const results = await Promise.all([0, 1, 2].map(() => runPegasus(['q'], { cwd: ws.dir })));
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  const ran = (await ws.read('ran.txt')).trim().split('\n').map(Number);
  assert.equal(ran.length, count);
  assert.deepEqual([...ran].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i));
  const consumed = (await ws.read('consumed.yaml')).trim().split('\n');
  assert.equal(consumed.length, count);
  assert.equal(await ws.read('queue.yaml'), '');
  // each process did part of the work
  assert.ok(results.filter((r) => /run echo/.test(r.stdout)).length >= 2);
});

test('SIGTERM cancels the running job as a tree, puts it back at the head of the queue, exits 143', async () => {
  const ws = await workspace({ 'hosts.yaml': '- localhost\n', 'queue.yaml': '- echo pid=$$; sleep 300 & sleep 300; wait\n- echo next\n' });
  let pegasusPid = 0;
  let jobPid = 0;
  const result = await runPegasus(['q'], {
    cwd: ws.dir,
    onSpawn: (pid) => (pegasusPid = pid),
    onStdout: (soFar) => {
      const match = /pid=(\d+)/.exec(soFar);
      if (match && !jobPid) {
        jobPid = Number(match[1]);
        process.kill(pegasusPid, 'SIGTERM');
      }
    },
  });
  assert.equal(result.code, 143, result.stderr);
  assert.ok(jobPid > 0);
  // the job's shell and both sleeps were in its process group, which is gone
  assert.deepEqual(await liveInGroup(jobPid), []);
  assert.equal(await ws.read('queue.yaml'), '- echo pid=$$; sleep 300 & sleep 300; wait\n- echo next\n');
  assert.match(result.stdout, /=== cancelled \([\d.]+s\), job put back at the head of the queue ===/);
});
