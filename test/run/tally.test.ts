// A run's tally answers `pegasus wait` for any job however long ago it ended, and a daemon's worth of jobs does not grow it much.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ExecResult } from '../../src/exec/types.js';
import type { RunEvent } from '../../src/run/events.js';
import { RunTally } from '../../src/run/tally.js';

const subnode = { host: 'localhost', index: 0 } as unknown;
const job = { command: 'true' } as unknown;

function result(exitCode: number | null, extra: Partial<ExecResult> = {}): ExecResult {
  return { exitCode, signal: null, durationMs: 1, cancelled: false, ...extra };
}

/** One job, numbered `n`, starts and ends with `res`. */
function run(tally: RunTally, n: number, res: ExecResult): void {
  tally.onEvent({ type: 'job-started', id: n, subnode, job, command: 'true', attempt: 1, number: n } as RunEvent);
  tally.onEvent({ type: 'job-finished', id: n, subnode, job, command: 'true', result: res, requeued: false } as RunEvent);
}

test('a wait for old jobs answers each with how it ended: successes, failures, time-outs, one that did not end', async () => {
  const tally = new RunTally();
  for (let n = 1; n <= 5000; n++) run(tally, n, n === 4000 ? result(3) : n === 4500 ? result(null, { timedOut: true }) : result(0));
  tally.onEvent({ type: 'job-started', id: 5001, subnode, job, command: 'sleep', attempt: 1, number: 5001 } as RunEvent);
  assert.ok(tally.knows(1) && tally.knows(4000) && tally.knows(5001) && !tally.knows(5002));
  const answer = await tally.wait([1, 4000, 4500, 4999]);
  assert.deepEqual(answer.ended, [
    { number: 1, ok: true, outcome: 'exit 0' },
    { number: 4000, ok: false, outcome: 'exit 3' },
    { number: 4500, ok: false, outcome: 'timed out' },
    { number: 4999, ok: true, outcome: 'exit 0' },
  ]);
  assert.equal(answer.runEnded, false);
  const pending = tally.wait([5000, 5001]);
  tally.end();
  const last = await pending;
  assert.deepEqual(last.ended, [{ number: 5000, ok: true, outcome: 'exit 0' }]);
  assert.deepEqual(last.unfinished, [5001]);
  assert.equal(last.runEnded, true);
});

test('a queue wait lists the jobs that ended since it began, in order, once the run is idle', async () => {
  const tally = new RunTally();
  for (let n = 1; n <= 3; n++) run(tally, n, result(0));
  const waiting = tally.wait();
  run(tally, 5, result(1));
  run(tally, 4, result(0));
  tally.onEvent({ type: 'queue-idle' } as RunEvent);
  const answer = await waiting;
  assert.deepEqual(answer.ended.map((e) => [e.number, e.outcome]), [[4, 'exit 0'], [5, 'exit 1']]);
});

test('a job that failed and then, tried again, succeeded counts as a success', async () => {
  const tally = new RunTally();
  run(tally, 7, result(2));
  run(tally, 7, result(0));
  assert.deepEqual((await tally.wait([7])).ended, [{ number: 7, ok: true, outcome: 'exit 0' }]);
});

test('a daemon\'s worth of succeeded jobs grows the tally by little (an object per job was ~100 bytes)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const tally = new RunTally();
  for (let n = 1; n <= 1000; n++) run(tally, n, result(0)); // warm up
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let n = 1001; n <= 201_000; n++) run(tally, n, result(0));
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 4 * 2 ** 20, `heap grew ${(grown / 2 ** 20).toFixed(1)} MiB over 200,000 jobs`);
  assert.ok(tally.knows(150_000));
});
