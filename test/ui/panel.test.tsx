// The live panel as a user sees it: rendered by ink into a fake terminal (ink-testing-library), from states folded out of run events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { render } from 'ink-testing-library';
import { type RunEvent, type SubNodeRef } from '../../src/run/events.js';
import { type Job } from '../../src/config/jobs.js';
import { Panel } from '../../src/ui/live/Panel.js';
import { applyEvent, initialState, type ViewState } from '../../src/ui/state.js';

const T0 = 1_000_000;

function refs(hosts: Record<string, number>): SubNodeRef[] {
  const out: SubNodeRef[] = [];
  for (const [host, n] of Object.entries(hosts)) for (let g = 0; g < n; g++) out.push({ index: out.length, host, label: `${host} (gpu=${g})` });
  return out;
}

const job = (command: string): Job => ({ command, params: [] }) as unknown as Job;
const ok = { exitCode: 0, signal: null, durationMs: 5, cancelled: false };

function started(subnode: SubNodeRef, id: number, command: string, attempt = 1): RunEvent {
  return { type: 'job-started', id, subnode, job: job(command), command, attempt };
}

function frame(state: ViewState, options: { columns?: number; rows?: number; now?: number } = {}): string {
  const { lastFrame, unmount } = render(
    <Panel state={state} now={options.now ?? T0 + 65_000} columns={options.columns ?? 100} rows={options.rows ?? 30} title="pegasus q · queue.yaml" />,
  );
  const text = lastFrame() ?? '';
  unmount();
  return text;
}

test('one row per sub-node: running ones show elapsed time, attempt and command; idle, reconnecting and down ones say so', () => {
  const subnodes = refs({ node1: 3, node2: 1, node3: 1 });
  const state = initialState(subnodes, T0);
  applyEvent(state, started(subnodes[0]!, 1, 'python train.py --lr 0.1'), T0);
  applyEvent(state, started(subnodes[1]!, 2, 'python train.py --lr 0.2', 2), T0 + 60_000);
  applyEvent(state, started(subnodes[2]!, 3, 'true'), T0);
  applyEvent(state, { type: 'job-finished', id: 3, subnode: subnodes[2]!, job: job('true'), command: 'true', result: ok, requeued: false }, T0);
  applyEvent(state, { type: 'host-lost', host: 'node2', error: { message: 'gone' } as never, retryInMs: 1000 }, T0);
  applyEvent(state, { type: 'host-failed', host: 'node3', error: { message: 'refused' } as never }, T0);
  const text = frame(state);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^── pegasus q · queue\.yaml · 5 sub-nodes · 1m05s ─+$/);
  assert.match(text, /● node1 \(gpu=0\)\s+1m05s {2}python train\.py --lr 0\.1/);
  assert.match(text, /● node1 \(gpu=1\)\s+5s {2}\(attempt 2\) python train\.py --lr 0\.2/);
  assert.match(text, /○ node1 \(gpu=2\) {2}idle/, 'finished: idle again');
  assert.match(text, /↻ node2 \(gpu=0\) {2}reconnecting/);
  assert.match(text, /✗ node3 \(gpu=0\) {2}down/);
  assert.match(lines.at(-1)!, /^done 1 · failed 0 · running 2 · retried 0$/);
});

test('totals count done, failed and retried jobs, the queued entries, the lock holder and the daemon waiting', () => {
  const [a] = refs({ node1: 1 });
  const state = initialState([a!], T0);
  applyEvent(state, started(a!, 1, 'true'), T0);
  applyEvent(state, { type: 'job-finished', id: 1, subnode: a!, job: job('true'), command: 'true', result: ok, requeued: false }, T0);
  applyEvent(state, started(a!, 2, 'false'), T0);
  applyEvent(state, { type: 'job-finished', id: 2, subnode: a!, job: job('false'), command: 'false', result: { ...ok, exitCode: 1 }, requeued: false }, T0);
  applyEvent(state, started(a!, 3, 'x'), T0);
  applyEvent(state, { type: 'job-finished', id: 3, subnode: a!, job: job('x'), command: 'x', result: { ...ok, exitCode: null, transportError: { message: 'lost' } as never }, requeued: false, retrying: true }, T0);
  applyEvent(state, { type: 'queue-size', entries: 12 }, T0);
  applyEvent(state, { type: 'lock-notice', notice: { kind: 'waiting', lockPath: 'q.lock', sinceMs: 0, owner: { pid: 4242, what: 'pegasus l (editing the queue)', since: T0 } } }, T0);
  assert.match(frame(state, { columns: 140 }), /^done 1 · failed 1 · running 0 · retried 1 · queued 12 entries · queue locked by pid 4242 \(pegasus l \(editing the queue\)\)$/m);
  applyEvent(state, { type: 'queue-idle', file: 'queue.yaml' }, T0);
  const idle = frame(state);
  assert.match(idle, /queued 12 entries · waiting for queue changes$/m, 'the lock is released once the queue is read again');
  assert.doesNotMatch(idle, /locked/);
});

test('after a first Ctrl-C the panel says what is still running and that a second one cancels it', () => {
  const [a, b] = refs({ node1: 2 });
  const state = initialState([a!, b!], T0);
  applyEvent(state, started(a!, 1, 'sleep 100'), T0);
  applyEvent(state, { type: 'stop-requested', stage: 'drain' }, T0);
  const text = frame(state);
  assert.match(text, /● node1 \(gpu=0\)\s+1m05s {2}sleep 100/);
  assert.match(text, /^stopping: no new jobs are taken; waiting for 1 running job to finish\. Ctrl-C again cancels it\.$/m);
});

test('more sub-nodes than a third of the screen: one row per host; more hosts than that: the rest counted on one line', () => {
  const subnodes = refs({ alpha: 8, beta: 8 });
  const state = initialState(subnodes, T0);
  for (let i = 0; i < 11; i++) applyEvent(state, started(subnodes[i]!, i + 1, `job ${i}`), T0 + i * 1000);
  const text = frame(state, { rows: 24 }); // room for 8 lines: 16 sub-nodes do not fit
  const lines = text.split('\n');
  assert.equal(lines.length, 4, text);
  assert.match(text, /● alpha {2}8\/8 running {2}longest 1m05s: job 0/);
  assert.match(text, /● beta {3}3\/8 running {2}longest 57s: job 8/);

  const many = refs(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`h${String(i).padStart(2, '0')}`, 2])));
  const big = initialState(many, T0);
  applyEvent(big, started(many[39]!, 1, 'last host job'), T0);
  const bigText = frame(big, { rows: 24 });
  const bigLines = bigText.split('\n');
  assert.ok(bigLines.length <= 8, `the panel stays within a third of 24 rows:\n${bigText}`);
  assert.match(bigText, /^ {2}… 15 more hosts: 1\/30 sub-nodes running$/m);
});

test('rows are cut to the terminal width, never wrapped', () => {
  const [a] = refs({ node1: 1 });
  const state = initialState([a!], T0);
  applyEvent(state, started(a!, 1, `python train.py ${'--flag '.repeat(40)}`), T0);
  const text = frame(state, { columns: 60 });
  for (const line of text.split('\n')) assert.ok(line.length <= 60, `${line.length}: ${line}`);
  assert.match(text, /● node1 \(gpu=0\)\s+1m05s {2}python train\.py --flag .*…$/m);
});

test('a sub-node with slots shows its occupancy and how many more jobs run on it', () => {
  const box: SubNodeRef = { index: 0, host: 'gpu-box', label: 'gpu-box', slots: 8 };
  const state = initialState([box], T0);
  applyEvent(state, { ...started(box, 1, 'train a'), slots: [0, 1] } as RunEvent, T0);
  applyEvent(state, { ...started(box, 2, 'train b'), slots: [4, 5, 6, 7] } as RunEvent, T0 + 10_000);
  assert.match(frame(state), /^● gpu-box {2}▮▮▯▯▮▮▮▮ {3}1m05s {2}train a \(\+1 more\)$/m);
  applyEvent(state, { type: 'job-finished', id: 1, subnode: box, job: job('train a'), command: 'train a', result: ok, requeued: false, slots: [0, 1] }, T0);
  assert.match(frame(state), /^● gpu-box {2}▯▯▯▯▮▮▮▮ {5}55s {2}train b$/m);
});

test('steered sub-nodes: a row per joined sub-node, its standing after it, the barrier in broadcast mode; a removed one leaves the panel', () => {
  const subnodes = refs({ node1: 2 });
  const state = initialState(subnodes, T0);
  const node2: SubNodeRef = { index: 2, host: 'node2', label: 'node2' };
  applyEvent(state, { type: 'subnode-added', subnode: node2 }, T0);
  applyEvent(state, started(node2, 1, 'echo on node2'), T0);
  applyEvent(state, { type: 'subnode-state', subnode: subnodes[0]!, state: 'paused' }, T0);
  applyEvent(state, { type: 'subnode-state', subnode: subnodes[1]!, state: 'drained' }, T0);
  let text = frame(state);
  assert.match(text, /node1 \(gpu=0\) +idle \[paused\]/);
  assert.match(text, /node1 \(gpu=1\) +idle \[drained\]/);
  assert.match(text, /node2 +.*#?echo on node2/);
  assert.match(text, /3 sub-nodes/);
  state.barrier = true;
  assert.match(frame(state), /node1 \(gpu=0\) +idle \[paused: holds the barrier\]/);
  applyEvent(state, { type: 'subnode-state', subnode: subnodes[1]!, state: 'removed' }, T0);
  applyEvent(state, { type: 'subnode-state', subnode: subnodes[0]!, state: 'taking' }, T0);
  // Rows are found by index after one has left.
  applyEvent(state, { type: 'job-finished', id: 1, subnode: node2, job: job('echo on node2'), command: 'echo on node2', result: ok, requeued: false }, T0);
  text = frame(state);
  assert.doesNotMatch(text, /gpu=1/);
  assert.doesNotMatch(text, /\[paused/);
  assert.match(text, /2 sub-nodes/);
  assert.match(text, /node2 +idle/);
});

test('a slots: auto sub-node shows each GPU once counted: ours with the job number, free, busy with the memory someone else uses; and why the head job waits', () => {
  const box: SubNodeRef = { index: 0, host: 'node3', label: 'node3', slots: 0 };
  const state = initialState([box], T0);
  const counted: SubNodeRef = { ...box, slots: 3 };
  applyEvent(state, { type: 'subnode-slots', subnode: counted, gpus: [0, 1, 2] }, T0);
  applyEvent(state, { ...started(counted, 7, 'train a'), number: 7, slots: [0] } as RunEvent, T0);
  applyEvent(
    state,
    {
      type: 'gpu-state',
      subnode: counted,
      gpus: [
        { id: 0, state: 'ours', jobs: [7], memoryUsedMiB: 30000 },
        { id: 1, state: 'free', memoryUsedMiB: 4 },
        { id: 2, state: 'busy', memoryUsedMiB: 20480, reason: 'a process not started by pegasus (pid 4242)' },
      ],
    },
    T0,
  );
  applyEvent(state, { type: 'head-waiting', job: 8, reason: 'needs 2 free GPUs; node3 has 1 (1 more busy with other work)' }, T0);
  const text = frame(state);
  assert.match(text, /^● node3 {2}▮▯▯ {2}GPU 0 #7 · 1 free · 2 busy 20\.0 GiB {2}.*#7 train a$/m);
  assert.match(text, /job 8 waits: needs 2 free GPUs; node3 has 1 \(1 more busy with other work\)/);
  applyEvent(state, { type: 'head-waiting' }, T0);
  assert.doesNotMatch(frame(state), /waits/);
});
