// Queue entries: expansion order and count, values as written, canonical text, and the errors users see.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHosts } from '../../src/config/hosts.js';
import { canonicalText, checkEntry, expandEntry, parseQueue, renderJob } from '../../src/config/jobs.js';
import { ConfigError } from '../../src/errors.js';

const QUIZ_HOSTS = `
- hostname: [node-1, node-2]
  laziness: [1]
- hostname: [node-3]
  laziness: [2]
`;
const QUIZ_QUEUE = `
- echo hi from {{ hostname }}
- command:
    - for i in $(seq {{ low }} {{ high }}); do echo $i; sleep {{ laziness }}; done
    - echo bye from {{ hostname }}
  low: [1, 2]
  high: [3, 4]
`;

test('the Pegasus quiz expands to 1 + 2*2*2 = 9 jobs, command outermost, last key fastest', () => {
  const jobs = parseQueue(QUIZ_QUEUE, 'queue.yaml').flatMap(expandEntry);
  assert.equal(jobs.length, 9);
  assert.deepEqual(
    jobs.slice(1, 5).map((j) => j.params.map(([k, v]) => `${k}=${v}`).join(',')),
    ['low=1,high=3', 'low=1,high=4', 'low=2,high=3', 'low=2,high=4'],
  );
  assert.match(jobs[1]!.command, /^for i/);
  assert.match(jobs[5]!.command, /^echo bye/);
});

test('host and job parameters both reach the template', () => {
  const hosts = parseHosts(QUIZ_HOSTS, 'hosts.yaml');
  const jobs = parseQueue(QUIZ_QUEUE, 'queue.yaml').flatMap(expandEntry);
  assert.equal(renderJob(jobs[1]!, hosts[2]!), 'for i in $(seq 1 3); do echo $i; sleep 2; done');
  assert.equal(renderJob(jobs[0]!, hosts[1]!), 'echo hi from node-2');
});

test('values are taken as written and rendered without HTML escaping', () => {
  const text = `- command: run --lr={{lr}} --x={{x}} <{{q}}> & "{{model}}"\n  lr: [1e-3, 1.0, 010]\n  x: [true, ~]\n  q: "a&b"\n  model: 'it''s'\n`;
  const [entry] = parseQueue(text, 'q.yaml');
  const rendered = expandEntry(entry!).map((job) => renderJob(job, parseHosts('- localhost', 'h.yaml')[0]!));
  assert.deepEqual(rendered.slice(0, 2), [
    'run --lr=1e-3 --x=true <a&b> & "it\'s"',
    'run --lr=1e-3 --x=~ <a&b> & "it\'s"',
  ]);
  assert.equal(rendered[2], 'run --lr=1.0 --x=true <a&b> & "it\'s"');
  assert.equal(rendered[4], 'run --lr=010 --x=true <a&b> & "it\'s"');
});

test('a plain `- true` entry is the command true', () => {
  assert.deepEqual(parseQueue('- true\n- 42\n', 'q.yaml').map((e) => e.commands[0]), ['true', '42']);
});

test('canonical text: a string without parameters, a map with single values otherwise, and it reads back the same', () => {
  const jobs = parseQueue('- echo a\n- command:\n    - x {{lr}}\n  lr: [1e-3, "a: b", "", true]\n', 'q.yaml').flatMap(expandEntry);
  const text = canonicalText(jobs);
  assert.equal(text.split('\n')[0], '- echo a');
  assert.match(text, /^- command: x \{\{lr\}\}\n  lr: 1e-3$/m);
  const again = parseQueue(text, 'consumed.yaml').flatMap(expandEntry);
  assert.deepEqual(
    again.map((j) => [j.command, j.params]),
    jobs.map((j) => [j.command, j.params]),
  );
});

test('multi-line and quote-heavy commands survive canonical form', () => {
  const command = `echo "it's" '$HOME' \\\\ \`date\`\nprintf '%s\\n' done`;
  const text = canonicalText([{ command, params: [['k', "'v'"]], place: { file: 'q' } }]);
  const [back] = parseQueue(text, 'q').flatMap(expandEntry);
  assert.equal(back!.command, command);
  assert.deepEqual(back!.params, [['k', "'v'"]]);
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

test('an entry without `command` names the file, line and the keys it has', () => {
  const error = configError(() => parseQueue('- echo ok\n- cmd: train\n  lr: [1]\n', 'queue.yaml'));
  assert.match(error.describe(), /^queue\.yaml:2:3: A queue entry has no `command` key \(it has `cmd`, `lr`\)/);
});

test('a parameter that is a map is refused with its place', () => {
  const error = configError(() => parseQueue('- command: x\n  opts: {a: 1}\n', 'queue.yaml'));
  assert.match(error.describe(), /queue\.yaml:2:9: .*`opts` is a map/);
});

test('malformed YAML names file:line:col, quotes the line, and says how to fix it', () => {
  const error = configError(() => parseQueue('- echo a\n- command: [x, y\n- echo c\n', 'queue.yaml'));
  const text = error.describe();
  assert.match(text, /^queue\.yaml:3:1: queue\.yaml is not valid YAML/);
  assert.match(text, /  3 \| - echo c\n +\| \^/);
  assert.match(text, /Fix the YAML/);
});

test('an unknown template variable names the template, the entry and the known keys', () => {
  const hosts = parseHosts('- hostname: [a]\n  gpu: [0]\n', 'hosts.yaml');
  const [entry] = parseQueue('- command: train --gpu {{gpus}} --lr {{lr}}\n  lr: [1]\n', 'queue.yaml');
  const error = configError(() => checkEntry(entry!, hosts));
  assert.match(error.describe(), /^queue\.yaml:1:3: The command template `train --gpu \{\{gpus\}\} --lr \{\{lr\}\}` uses `\{\{gpus\}\}`/);
  assert.match(error.message, /Known variables: `hostname`, `gpu`, `lr`/);
});

test('a key defined on both a host and an entry is a load error naming both places', () => {
  const hosts = parseHosts('- hostname: a\n  gpu: [0, 1]\n', 'hosts.yaml');
  const [entry] = parseQueue('- command: x {{gpu}}\n  gpu: [3]\n', 'queue.yaml');
  const error = configError(() => checkEntry(entry!, hosts));
  assert.match(error.describe(), /^queue\.yaml:2:3: The parameter `gpu` is defined both in a queue entry and on host a \(gpu=0\) \(hosts\.yaml:1:3\)/);
});

test('string helpers work and check their arguments', () => {
  const host = parseHosts('- localhost', 'h.yaml')[0]!;
  const [entry] = parseQueue(
    `- command: '{{replace model "/" "--"}} {{lower m}} {{upper m}} {{snake_case m}} {{kebab_case m}} {{camel_case m}} {{trim pad}}|{{default missing "dflt"}} {{to_pascal_case m}}'\n  model: facebook/opt-13b\n  m: Hello foo-bars\n  pad: "  x  "\n`,
    'q.yaml',
  );
  assert.equal(
    renderJob(expandEntry(entry!)[0]!, host),
    'facebook--opt-13b hello foo-bars HELLO FOO-BARS hello_foo_bars hello-foo-bars helloFooBars x|dflt HelloFooBars',
  );
  const [bad] = parseQueue('- echo {{replace x "a"}}\n', 'q.yaml');
  assert.match(configError(() => checkEntry(bad!, [host])).message, /helper `replace` takes 3 arguments/);
});
