// An attempt's signal follows the run's cancel signal and its own kill signal while it runs, and leaves nothing behind on them after.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { linkedSignal } from '../../src/run/linked-signal.js';

test('it aborts with the reason of whichever source aborts first', () => {
  const run = new AbortController();
  const kill = new AbortController();
  const linked = linkedSignal([run.signal, kill.signal]);
  assert.equal(linked.signal?.aborted, false);
  kill.abort('killed');
  assert.equal(linked.signal?.aborted, true);
  assert.equal(linked.signal?.reason, 'killed');
  run.abort('cancelled');
  assert.equal(linked.signal?.reason, 'killed');
  assert.equal(getEventListeners(run.signal, 'abort').length, 0, 'the run signal let go of it');
});

test('a source aborted already aborts it at once; one source is the signal itself; none is no signal', () => {
  const run = new AbortController();
  run.abort('cancelled');
  assert.equal(linkedSignal([run.signal, new AbortController().signal]).signal?.reason, 'cancelled');
  const only = new AbortController();
  assert.equal(linkedSignal([undefined, only.signal]).signal, only.signal);
  assert.equal(linkedSignal([undefined, undefined]).signal, undefined);
});

test('10,000 attempts released leave no listener on the run-long cancel signal, which still cancels the one that runs', () => {
  const run = new AbortController();
  for (let i = 0; i < 10_000; i++) linkedSignal([run.signal, new AbortController().signal]).release();
  assert.equal(getEventListeners(run.signal, 'abort').length, 0);
  const running = linkedSignal([run.signal, new AbortController().signal]);
  assert.equal(getEventListeners(run.signal, 'abort').length, 1);
  run.abort('cancelled');
  assert.equal(running.signal?.reason, 'cancelled');
});

test('a daemon\'s worth of attempts on one cancel signal does not grow the heap (AbortSignal.any kept each of them on Node 20)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const run = new AbortController();
  const attempt = (): void => {
    const linked = linkedSignal([run.signal, new AbortController().signal]);
    const onAbort = (): void => undefined;
    linked.signal?.addEventListener('abort', onAbort, { once: true });
    linked.signal?.removeEventListener('abort', onAbort);
    linked.release();
  };
  for (let i = 0; i < 20_000; i++) attempt(); // warm up
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 200_000; i++) attempt();
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 4 * 2 ** 20, `heap grew ${(grown / 2 ** 20).toFixed(1)} MiB over 200,000 attempts`);
});
