// On a machine with NVIDIA GPUs: checks that the real nvidia-smi prints what pegasus's parser and the test stand-in expect (issue 15).
// `npm run bench:gpu-real`; without nvidia-smi it says so and exits 0.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { busyGpus, DEFAULT_GPU_POLICY, GPU_QUERY, parseGpuQuery } from '../src/exec/gpus.js';
import { CLI } from '../test/helpers/cli.js';

const run = promisify(execFile);

const found = await run('sh', ['-c', 'command -v nvidia-smi']).then(
  (r) => r.stdout.trim(),
  () => '',
);
if (!found) {
  console.log('No nvidia-smi on this PATH: nothing to check here. Run this on a machine with NVIDIA GPUs.');
  process.exit(0);
}

let failures = 0;
const check = (ok: boolean, what: string): void => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
};

// 1. The exact query pegasus sends, parsed as pegasus parses it.
const raw = await run('sh', ['-c', GPU_QUERY]).then(
  (r) => ({ out: r.stdout, error: '' }),
  (e: { stdout?: string; stderr?: string; code?: number }) => ({ out: e.stdout ?? '', error: `exit ${e.code}: ${(e.stderr ?? '') + (e.stdout ?? '')}` }),
);
console.log(`nvidia-smi: ${found}\n--- what it printed for pegasus's query ---\n${raw.out}---`);
check(raw.error === '', `the query exits 0${raw.error ? ` (${raw.error.trim()})` : ''}`);
try {
  const snapshot = parseGpuQuery(raw.out);
  check(snapshot.gpus.length > 0, `parsed ${snapshot.gpus.length} GPU(s): ${snapshot.gpus.map((g) => `${g.index} ${g.name ?? '?'} ${g.memoryUsedMiB ?? '?'}/${g.memoryTotalMiB ?? '?'} MiB`).join('; ')}`);
  check(snapshot.gpus.every((g) => /^GPU-|^MIG-/.test(g.uuid)), 'every GPU has a GPU-/MIG- UUID');
  check(snapshot.processes.every((p) => snapshot.gpus.some((g) => g.uuid === p.gpuUuid)), `${snapshot.processes.length} compute process(es), each on a listed GPU`);
  const busy = busyGpus(snapshot, DEFAULT_GPU_POLICY, new Set());
  console.log(`busy by the default policy (no foreign process): ${busy.size === 0 ? 'none' : [...busy].map(([id, b]) => `GPU ${id}: ${b.reason}`).join('; ')}`);
} catch (error) {
  check(false, `the output parses: ${(error as Error).message}`);
}

// 2. pegasus itself: a dry run with `slots: auto` on localhost counts the same GPUs.
const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-gpu-real-'));
try {
  await writeFile(path.join(dir, 'hosts.yaml'), '- hostname: localhost\n  slots: auto\n');
  await writeFile(path.join(dir, 'queue.yaml'), '- command: echo CUDA_VISIBLE_DEVICES={{gpus}}\n');
  const dry = await run(process.execPath, [CLI, 'q', '--dry-run'], { cwd: dir });
  console.log(dry.stdout);
  check(/slots: auto: \d+ GPUs? \(/.test(dry.stdout), 'pegasus q --dry-run counts the GPUs');
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exitCode = failures > 0 ? 1 : 0;
