// hosts.yaml: sub-node expansion, labels, templated host names and the errors users see.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLocalHost, parseHosts } from '../../src/config/hosts.js';
import { ConfigError } from '../../src/errors.js';

test('a parametrized host entry expands by cartesian product into sub-nodes, in order', () => {
  const subnodes = parseHosts('- plain\n- hostname: [a, b]\n  gpu: [0, 1]\n', 'hosts.yaml');
  assert.deepEqual(
    subnodes.map((s) => s.label),
    ['plain', 'a (gpu=0)', 'a (gpu=1)', 'b (gpu=0)', 'b (gpu=1)'],
  );
  assert.deepEqual(subnodes.map((s) => s.index), [0, 1, 2, 3, 4]);
  assert.deepEqual(subnodes[2]!.params, [['hostname', 'a'], ['gpu', '1']]);
});

test('a host name can be a template over the entry\'s other parameters', () => {
  const subnodes = parseHosts('- hostname: "gpu{{n}}.lab"\n  n: [1, 2]\n', 'hosts.yaml');
  assert.deepEqual(subnodes.map((s) => s.host), ['gpu1.lab', 'gpu2.lab']);
});

test('localhost, 127.0.0.1 and ::1 run locally', () => {
  assert.ok(isLocalHost('localhost') && isLocalHost('127.0.0.1') && isLocalHost('::1'));
  assert.ok(!isLocalHost('127.0.0.2') && !isLocalHost('node1'));
});

test('an empty hosts file, a map entry without hostname, and a non-list are errors with places', () => {
  assert.throws(() => parseHosts('# nothing\n', 'hosts.yaml'), (e: unknown) => e instanceof ConfigError && /lists no hosts/.test(e.message));
  assert.throws(
    () => parseHosts('- a\n- gpu: [0]\n', 'hosts.yaml'),
    (e: unknown) => e instanceof ConfigError && /^hosts\.yaml:2:3: A host entry has no `hostname` key/.test(e.describe()),
  );
  assert.throws(() => parseHosts('hostname: a\n', 'hosts.yaml'), (e: unknown) => e instanceof ConfigError && /must be a list/.test(e.message));
});

test('slots: auto (issue 15): a sub-node with no slots until its GPUs are counted, with slots_per_gpu, CUDA_VISIBLE_DEVICES and gpu_free', () => {
  const [a, b] = parseHosts(
    '- gpu_free: { max_memory_used: 2GiB }\n- hostname: a\n  slots: auto\n- hostname: b\n  slots: auto\n  slots_per_gpu: 2\n  CUDA_VISIBLE_DEVICES: "1,3"\n  gpu_free: { max_memory_used: 1GiB, foreign_processes: true }\n',
    'hosts.yaml',
  );
  assert.equal(a?.slots, 0);
  assert.deepEqual(a?.gpus, { perGpu: 1, policy: { foreignProcesses: false, maxMemoryUsedMiB: 2048 } });
  assert.deepEqual(b?.gpus, { perGpu: 2, visible: [1, 3], policy: { foreignProcesses: true, maxMemoryUsedMiB: 1024 } });
  // slots and slots_per_gpu are not parameters; CUDA_VISIBLE_DEVICES stays one (jobs may use it).
  assert.deepEqual(b?.params, [['hostname', 'b'], ['CUDA_VISIBLE_DEVICES', '1,3']]);
});

test('GPU settings that cannot work are errors naming the line and the fix', () => {
  const bad = (text: string, pattern: RegExp) =>
    assert.throws(() => parseHosts(text, 'hosts.yaml'), (e: unknown) => e instanceof ConfigError && pattern.test(e.describe()) && /hosts\.yaml:\d+/.test(e.describe()));
  bad('- hostname: a\n  slots_per_gpu: 2\n', /`slots_per_gpu` without `slots: auto`/);
  bad('- hostname: a\n  slots: auto\n  gpu_free: { max_memory_used: lots }\n', /max_memory_used` is `lots`, which is not a size/);
  bad('- hostname: a\n  slots: auto\n  gpu_free: { foreign: false }\n', /unknown key `foreign`/);
  bad('- hostname: a\n  gpu_free: { foreign_processes: true }\n', /`gpu_free` without `slots: auto`/);
  bad('- hostname: a\n  slots: auto\n  CUDA_VISIBLE_DEVICES: GPU-abc\n', /must list GPU indices/);
});
