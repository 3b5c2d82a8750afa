// GPUs as they really are (issue 15), on a real sshd fleet whose test user finds a stand-in nvidia-smi first on its PATH
// (test/helpers/gpus.ts: the real tool's documented query output, from a state file each test rewrites).
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { runPegasus, startPegasus, type RunningPegasus } from '../helpers/cli.js';
import { idleGpus, installFakeNvidiaSmi, NO_DRIVER_MESSAGE, writeFakeGpus } from '../helpers/gpus.js';
import { fleetSuite } from '../helpers/suite.js';

const fake = path.join(os.tmpdir(), `pegasus-fake-gpus-${process.pid}`);
const bin = path.join(fake, 'bin');
const stateOf = (host: number): string => path.join(fake, `state${host}`);

before(async () => {
  await mkdir(fake, { recursive: true });
  await chmod(fake, 0o755);
  await installFakeNvidiaSmi(bin);
});
after(() => rm(fake, { recursive: true, force: true }));

// node1 and node2 have the stand-in first on PATH, each with its own state; node3 has no nvidia-smi at all.
const { fleet, tempDir } = fleetSuite({
  hosts: 3,
  hostSshdConfig: (i) => (i < 2 ? [`SetEnv PATH=${bin}:/usr/local/bin:/usr/bin:/bin PEGASUS_FAKE_GPUS=${stateOf(i)}`] : []),
});

// A test that fails mid-run leaves no pegasus behind for the next one.
const started: RunningPegasus[] = [];
afterEach(async () => {
  for (const run of started.splice(0)) {
    try {
      process.kill(run.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await run.exited;
  }
});

async function workspace(hosts: string, queue: string) {
  const dir = await tempDir('pegasus-gpus-');
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return {
    dir,
    // nvidia-smi is asked before every placement, so a GPU the test just made busy is never missed (a real run reuses answers for 1.5 s).
    start: (...extra: string[]) => {
      const run = startPegasus(['q', '--plain', '--ssh-config', fleet().sshConfigPath, ...extra], { cwd: dir, env: { PEGASUS_GPU_FRESH_MS: '0' } });
      started.push(run);
      return run;
    },
    pegasus: (...args: string[]) => runPegasus([...args, '--ssh-config', fleet().sshConfigPath], { cwd: dir }),
    status: () => runPegasus(['status'], { cwd: dir }),
    gate: (name: string) => path.join(dir, name),
    open: (name: string) => writeFile(path.join(dir, name), ''),
    read: (name: string) => readFile(path.join(dir, name), 'utf8'),
  };
}

/** A job that says where it runs and on which GPUs, then waits until `gate` exists. */
const gated = (gate: string, tag: string, extra = '') => `- command: echo ${tag} on={{hostname}} gpus={{gpus}}; while [ ! -e ${gate} ]; do sleep 0.05; done\n${extra}`;

/** Which GPUs each tag ran on, from the jobs' lines: tag → "host:gpus". */
function placements(stdout: string): Map<string, string> {
  return new Map([...stdout.matchAll(/\] (\S+) on=(\S+) gpus=(\S+)$/gm)].map((m) => [m[1] ?? '', `${m[2]}:${m[3]}`]));
}

test('slots: auto counts 4 GPUs on node1 and 2 on node2, one job per GPU; a host without nvidia-smi is reported by name and takes no job', async () => {
  await writeFakeGpus(stateOf(0), idleGpus(4));
  await writeFakeGpus(stateOf(1), idleGpus(2));
  const ws = await workspace('- hostname: [node1, node2, node3]\n  slots: auto\n', '');
  const queue = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((tag) => gated(ws.gate('gate'), tag)).join('');
  await writeFile(path.join(ws.dir, 'queue.yaml'), queue);

  const dry = await ws.pegasus('q', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /\[node1\]\n {4}slots: auto: 4 GPUs \(0, 1, 2, 3\), 4 slots\n {4}GPU 0 {2}free/);
  assert.match(dry.stdout, /\[node3\]\n {4}slots: auto, but nvidia-smi is not on the host's PATH/);

  const run = ws.start();
  await run.stderr(/\[node1\] has 4 GPUs \(0, 1, 2, 3\): 4 slots/);
  await run.stderr(/\[node2\] has 2 GPUs \(0, 1\): 2 slots/);
  await run.stderr(/host node3: slots: auto, but nvidia-smi is not on the host's PATH \(.*nvidia-smi.*not found\)/);
  // Six jobs run at once; the seventh stays in the queue until a GPU is free.
  await run.stdoutUntil((out) => placements(out).size === 6);
  const where = placements(run.output().stdout);
  assert.deepEqual([...where.values()].sort(), ['node1:0', 'node1:1', 'node1:2', 'node1:3', 'node2:0', 'node2:1']);

  const status = await ws.status();
  assert.match(status.stdout, /\[node1\] running job [\d, ]+\n {4}GPU 0 {2}job \d\n {4}GPU 1 {2}job \d\n {4}GPU 2 {2}job \d\n {4}GPU 3 {2}job \d\n/);
  assert.match(status.stdout, /\[node2\] running job [\d, ]+\n {4}GPU 0 {2}job \d\n {4}GPU 1 {2}job \d\n/);
  assert.match(status.stdout, /\[node3\] idle\n/);

  await ws.open('gate');
  const result = await run.exited;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /7 succeeded, 0 failed/);
  assert.doesNotMatch(result.stdout, /on=node3/, 'the host without nvidia-smi ran nothing');
});

test('a GPU busy with a foreign process gets no job until it is free; a job of 2 GPUs waits for 2 free ones', async () => {
  await writeFakeGpus(stateOf(1), idleGpus(2), [{ gpu: 1, pid: 4242, usedMemory: 20480 }]);
  const ws = await workspace('- hostname: node2\n  slots: auto\n', '');
  await writeFile(path.join(ws.dir, 'queue.yaml'), gated(ws.gate('gate1'), 'one') + gated(ws.gate('gate2'), 'two') + gated(ws.gate('gate3'), 'pair', '  slots: 2\n'));
  const run = ws.start();
  await run.stdout(/\] one on=node2 gpus=0$/m);
  await run.stderr(/\[node2\] GPU 1 is busy: a process not started by pegasus \(pid 4242\); no job starts there until it is free/);
  await run.stderr(/job 2 waits: it needs 1 free GPU; node2 has 0 \(1 more busy with other work\)/);
  const status = await ws.status();
  assert.match(status.stdout, /GPU 0 {2}job 1\n {4}GPU 1 {2}busy: a process not started by pegasus \(pid 4242\) \(20\.0 GiB used\)/);
  assert.doesNotMatch(run.output().stdout, /gpus=1/, 'nothing started on the busy GPU');

  // The colleague's process ends: job 2 goes to GPU 1.
  await writeFakeGpus(stateOf(1), idleGpus(2));
  await run.stderr(/\[node2\] GPU 1 is free again/);
  await run.stdout(/\] two on=node2 gpus=1$/m);
  // Job 3 needs both GPUs. A colleague starts work on GPU 0 while job 1 holds it; job 2 ends first: job 3 waits for GPU 0, ours.
  await writeFakeGpus(stateOf(1), idleGpus(2), [{ gpu: 0, pid: 5151, usedMemory: 1000 }]);
  await ws.open('gate2');
  await run.stderr(/job 3 waits: it needs 2 free GPUs; node2 has 1\./);
  // Job 1 ends: GPU 0 is the colleague's now, and job 3 still waits.
  await ws.open('gate1');
  await run.stderr(/\[node2\] GPU 0 is busy: a process not started by pegasus \(pid 5151\)/);
  assert.match((await ws.status()).stdout, /job 3 waits: it needs 2 free GPUs; node2 has 1 \(1 more busy with other work\)/);
  assert.doesNotMatch(run.output().stdout, /pair on=/);
  await writeFakeGpus(stateOf(1), idleGpus(2));
  await run.stdout(/\] pair on=node2 gpus=0,1$/m);
  await ws.open('gate3');
  const result = await run.exited;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /3 succeeded, 0 failed/);
});

test('a driver that fails is reported with its message; slots_per_gpu packs two jobs on one GPU; CUDA_VISIBLE_DEVICES picks the GPUs', async () => {
  await writeFakeGpus(stateOf(0), { exitCode: 9, message: NO_DRIVER_MESSAGE });
  await writeFakeGpus(stateOf(1), idleGpus(2));
  const ws = await workspace('- hostname: node1\n  slots: auto\n- hostname: node2\n  slots: auto\n  slots_per_gpu: 2\n  CUDA_VISIBLE_DEVICES: "1"\n', '');
  await writeFile(path.join(ws.dir, 'queue.yaml'), gated(ws.gate('gate'), 'x') + gated(ws.gate('gate'), 'y'));
  const run = ws.start('--json');
  // node1's failed query and node2's two jobs are independent: wait for both (node2 may start its jobs first).
  await run.stdoutUntil((out) => (out.match(/"event":"job-started"/g) ?? []).length === 2 && /"event":"gpu-error"/.test(out) && /"event":"subnode-slots"[^\n]*"host":"node1"/.test(out));
  const events = run.output().stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const error = events.find((e) => e.event === 'gpu-error');
  assert.equal(error?.host, 'node1');
  assert.match(String(error?.message), /nvidia-smi failed \(exit 9\): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
  assert.deepEqual(events.find((e) => e.event === 'subnode-slots' && e.host === 'node1')?.slots, 0, 'the host whose driver fails offers no slot');
  const slots = events.find((e) => e.event === 'subnode-slots' && e.host === 'node2');
  assert.deepEqual([slots?.gpus, slots?.slots], [[1], 2]);
  const state = events.filter((e) => e.event === 'gpu-state' && e.host === 'node2').at(-1);
  assert.deepEqual(state?.gpus, [{ id: 1, state: 'ours', jobs: [1, 2], memoryUsedMiB: 4 }]);
  await ws.open('gate');
  const result = await run.exited;
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n').filter((l) => l.includes('"event":"job-output"'));
  assert.equal(lines.filter((l) => /on=node2 gpus=1"/.test(l)).length, 2, lines.join('\n'));
});

test('when no host has a GPU pegasus can use, the run ends with exit 1 and the jobs stay in the queue', async () => {
  const queue = '- echo one {{gpus}}\n- echo two {{gpus}}\n';
  const ws = await workspace('- hostname: node3\n  slots: auto\n', queue);
  const result = await ws.start().exited;
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /host node3: slots: auto, but nvidia-smi is not on the host's PATH/);
  assert.match(result.stderr, /no host was left to run jobs \(unreachable, or slots: auto with no GPU pegasus can use\); what remains is still in the queue file/);
  assert.equal(await ws.read('queue.yaml'), queue);
});
