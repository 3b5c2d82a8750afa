// The feed's read-ahead refill (issue 17): the next take starts while jobs are still in hand, and a run that ends
// while one is under way still gets its jobs back (none is left taken and never run).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Job } from '../../src/config/jobs.js';
import { FileError } from '../../src/errors.js';
import type { QueueStore, Taken } from '../../src/queue/store.js';
import { JobFeed } from '../../src/run/feed.js';

/** A queue of `n` jobs whose takes answer only when the test says so. */
function slowStore(n: number) {
  const queue: Job[] = Array.from({ length: n }, (_, i) => ({ command: `echo ${i + 1}` }) as Job);
  const takes: { max: number; answer: () => void; fail: (error: Error) => void }[] = [];
  const store = {
    files: { queue: 'queue.yaml' },
    take: (max: number) =>
      new Promise<Taken>((resolve, reject) => {
        takes.push({ max, answer: () => resolve({ jobs: queue.splice(0, max) }), fail: reject });
      }),
  } as unknown as QueueStore;
  /** Answers the next take once it has been asked for. */
  const answer = async (): Promise<void> => {
    while (takes.length === 0) await new Promise((resolve) => setImmediate(resolve));
    takes.shift()!.answer();
  };
  return { store, takes, answer, left: () => queue.length };
}

/** A feed that reads ahead (jobs of 1 ms), after handing out its first job. */
async function started(store: QueueStore, answer: () => Promise<void>) {
  const given: Job[][] = [];
  const feed = new JobFeed({ store, emit: () => {}, giveBack: async (jobs) => (given.push([...jobs]), true) });
  const first = feed.next();
  await answer();
  assert.equal((await first)?.job.command, 'echo 1');
  feed.done(1); // recent jobs take 1 ms: the next take reads ahead as far as it goes (64)
  return { feed, given };
}

/** A feed with jobs 36 to 66 in hand and a refill (of jobs 67 to 99) asked for and not yet answered. */
async function refilling() {
  const { store, takes, answer } = slowStore(1000);
  const { feed } = await started(store, answer);
  const second = feed.next();
  await answer();
  await second;
  for (let i = 3; i <= 35; i++) await feed.next();
  assert.equal(takes.length, 1, 'a refill is under way');
  return { feed, takes, answer };
}

test('the next take starts while half of the jobs read ahead are still in hand, so a free sub-node does not wait for it', async () => {
  const { store, takes, answer } = slowStore(1000);
  const { feed } = await started(store, answer);
  const second = feed.next();
  await answer();
  assert.equal((await second)?.job.command, 'echo 2'); // 64 more are in hand
  // Hand out jobs until fewer than half of the 64 are left: a take is asked for before any caller has to wait.
  for (let i = 3; i <= 35; i++) {
    const fed = await feed.next();
    assert.equal(fed?.job.command, `echo ${i}`);
    feed.done(1);
  }
  assert.equal(takes.length, 1, 'a refill is under way while 31 jobs are still in hand');
  assert.equal(takes[0]!.max, 33, 'it tops the read-ahead up to 64');
  await answer();
  // The jobs come in queue order across the refill.
  for (let i = 36; i <= 99; i++) assert.equal((await feed.next())?.job.command, `echo ${i}`);
});

test('a refill under way when the run ends is waited for: its jobs are among the leftovers that go back to the queue', async () => {
  const { feed, answer } = await refilling();
  const got: { jobs?: Job[] } = {};
  const collecting = feed.leftovers().then((jobs) => (got.jobs = jobs));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(!('jobs' in got), 'the leftovers wait for the take under way');
  await answer();
  await collecting;
  // 31 in hand, then the 33 the refill took: jobs 36 to 99, in order.
  assert.deepEqual(
    (got.jobs ?? []).map((job: Job) => job.command),
    Array.from({ length: 64 }, (_, i) => `echo ${i + 36}`),
  );
});

test('a refill that cannot write the queue files is reported to the next caller once the jobs in hand are used up', async () => {
  const { feed, takes } = await refilling();
  takes.shift()!.fail(new FileError('queue.yaml', 'ENOSPC'));
  await new Promise((resolve) => setImmediate(resolve));
  // The 31 jobs in hand are still handed out...
  for (let i = 36; i <= 66; i++) assert.equal((await feed.next())?.job.command, `echo ${i}`);
  // ...then the write that failed is this caller's error.
  await assert.rejects(feed.next(), (error: unknown) => error instanceof FileError);
});
