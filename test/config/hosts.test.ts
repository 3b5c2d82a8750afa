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
