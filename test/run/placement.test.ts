// Placement (issues 8, 15): a loop that was waiting for a GPU query when the last job ended and the queue ran dry still ends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHosts } from '../../src/config/hosts.js';
import type { Job } from '../../src/config/jobs.js';
import type { FedJob, JobFeed } from '../../src/run/feed.js';
import type { GpuWatch } from '../../src/run/gpu-watch.js';
import { Placement } from '../../src/run/placement.js';
import { Roster } from '../../src/run/roster.js';

test('a GPU sub-node loop whose nvidia-smi answer comes after the queue is done ends instead of waiting for ever', { timeout: 10_000 }, async () => {
  const roster = new Roster(parseHosts('- hostname: gpubox\n  slots: auto\n- cpubox\n', 'hosts.yaml'), () => {});
  const [auto, cpu] = roster.subnodes;
  const gpubox = roster.resolve(auto!, [0]);
  // The feed hands out one job, then says the queue is drained.
  const jobs: FedJob[] = [{ job: { command: 'true' } as Job, attempt: 1, number: 1 }];
  const feed = { next: async () => jobs.shift() } as unknown as JobFeed;
  // nvidia-smi on gpubox answers only when the test says so.
  let answer: (busy: Set<number>) => void = () => {};
  let asked: () => void = () => {};
  const askedOnce = new Promise<void>((resolve) => (asked = resolve));
  const gpus = {
    busySlots: () => {
      asked();
      return new Promise<Set<number>>((resolve) => (answer = resolve));
    },
    claim: () => {},
    release: () => {},
  } as unknown as GpuWatch;
  const placement = new Placement({ roster, feed, gpus, backfill: false, isDead: () => false, onUnrunnable: async () => {} });

  // gpubox's loop fetches the job and asks nvidia-smi whether its GPU is free...
  const gpuLoop = placement.next(gpubox);
  await askedOnce;
  // ...meanwhile cpubox takes the job, runs it, and finds the queue drained.
  const placed = await placement.next(cpu!);
  assert.equal(placed?.fed.number, 1);
  placement.release(cpu!, placed.slots, 1);
  assert.equal(await placement.next(cpu!), undefined);
  // The answer comes last: gpubox's loop must end too (it waited for a wake-up that had already come).
  answer(new Set());
  assert.equal(await gpuLoop, undefined);
});
