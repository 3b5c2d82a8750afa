// nvidia-smi's query output as real drivers print it (issue 15): the parser takes spaces, [N/A], MiB units, CRLF; the policy says which GPUs are busy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busyGpus, DEFAULT_GPU_POLICY, GpuQueryError, parseGpuQuery, parseSizeMiB } from '../../src/exec/gpus.js';

const A = 'GPU-3c1d5e5a-8f04-1b2c-9a7e-1f2d3c4b5a60';
const B = 'GPU-b0a1c2d3-e4f5-6789-abcd-ef0123456789';

test('the query output of two GPUs and one process, as --format=csv,noheader,nounits prints it', () => {
  const snapshot = parseGpuQuery(`0, ${A}, NVIDIA A100-SXM4-80GB, 4, 81920\n1, ${B}, NVIDIA A100-SXM4-80GB, 20485, 81920\n--pegasus-apps--\n${B}, 31337, 20480\n`);
  assert.deepEqual(snapshot, {
    gpus: [
      { index: 0, uuid: A, name: 'NVIDIA A100-SXM4-80GB', memoryUsedMiB: 4, memoryTotalMiB: 81920 },
      { index: 1, uuid: B, name: 'NVIDIA A100-SXM4-80GB', memoryUsedMiB: 20485, memoryTotalMiB: 81920 },
    ],
    processes: [{ gpuUuid: B, pid: 31337, usedMemoryMiB: 20480 }],
  });
});

test('tolerant of real output: [N/A] and [Not Supported] fields, " MiB" units, CRLF, blank lines, extra spaces, no processes', () => {
  const snapshot = parseGpuQuery(`\r\n  0 ,  ${A} , NVIDIA GeForce RTX 3090 ,  [N/A] , 24576 MiB \r\n1, ${B}, [Not Supported], 512 MiB, [N/A]\r\n--pegasus-apps--\r\n\r\n`);
  assert.deepEqual(snapshot.gpus, [
    { index: 0, uuid: A, name: 'NVIDIA GeForce RTX 3090', memoryTotalMiB: 24576 },
    { index: 1, uuid: B, memoryUsedMiB: 512 },
  ]);
  assert.deepEqual(snapshot.processes, []);
  // A process whose memory the driver cannot report (WDDM, MIG): [N/A], and "No running processes found" from older drivers.
  const withNa = parseGpuQuery(`0, ${A}, T4, 100, 15360\n--pegasus-apps--\n${A}, 77, [N/A]\nNo running processes found\n`);
  assert.deepEqual(withNa.processes, [{ gpuUuid: A, pid: 77 }]);
});

test('output that is not the query (a banner, an error text) is an error that quotes it', () => {
  assert.throws(() => parseGpuQuery('Failed to initialize NVML: Driver/library version mismatch\n'), (e: unknown) => e instanceof GpuQueryError && /Failed to initialize NVML/.test(e.message));
  assert.throws(() => parseGpuQuery('--pegasus-apps--\n'), (e: unknown) => e instanceof GpuQueryError && /no GPUs/.test(e.message));
});

test('sizes as users and nvidia-smi write them', () => {
  assert.equal(parseSizeMiB('1GiB'), 1024);
  assert.equal(parseSizeMiB('1 GB'), 1024);
  assert.equal(parseSizeMiB('512MiB'), 512);
  assert.equal(parseSizeMiB('20480 MiB'), 20480);
  assert.equal(parseSizeMiB('1.5G'), 1536);
  assert.equal(parseSizeMiB('300'), 300);
  assert.equal(parseSizeMiB('lots'), undefined);
});

test('busy by policy: a foreign process, or more memory used than allowed; GPUs holding our jobs never count as busy', () => {
  const snapshot = parseGpuQuery(`0, ${A}, A100, 4, 81920\n1, ${B}, A100, 20485, 81920\n--pegasus-apps--\n${B}, 31337, 20480\n`);
  assert.deepEqual([...busyGpus(snapshot, DEFAULT_GPU_POLICY, new Set())], [[1, { reason: 'a process not started by pegasus (pid 31337)', memoryUsedMiB: 20485 }]]);
  assert.deepEqual([...busyGpus(snapshot, DEFAULT_GPU_POLICY, new Set([1]))], []);
  // Foreign processes allowed, but not over 1 GiB used.
  const lenient = busyGpus(snapshot, { foreignProcesses: true, maxMemoryUsedMiB: 1024 }, new Set());
  assert.deepEqual([...lenient.keys()], [1]);
  assert.match(lenient.get(1)?.reason ?? '', /20485 MiB used \(over 1024 MiB\)/);
  assert.deepEqual([...busyGpus(snapshot, { foreignProcesses: true, maxMemoryUsedMiB: 32768 }, new Set())], []);
});
