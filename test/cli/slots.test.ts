// Slots (issue 8): a host with `slots: 8` runs 1-, 2-, 4- and 8-slot jobs side by side, never two on one slot, in queue order;
// buddy blocks are aligned; a job too big for any sub-node is reported and skipped; {{@job}} and friends render.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runPegasus } from '../helpers/cli.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function workspace(hosts: string, queue: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pegasus-slots-'));
  dirs.push(dir);
  await writeFile(path.join(dir, 'hosts.yaml'), hosts);
  await writeFile(path.join(dir, 'queue.yaml'), queue);
  return dir;
}

interface Record {
  readonly n: number;
  readonly slots: number[];
  readonly start: bigint;
  readonly end: bigint;
}

/** Each job records its number, its slots and when it ran (ns), then holds its slots for a moment. */
const RECORD = 's=$(date +%s%N); sleep 0.3; e=$(date +%s%N); echo "{{n}} {{slots}} $s $e" >> record';

async function records(dir: string): Promise<Record[]> {
  const text = await readFile(path.join(dir, 'record'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [n, slots, start, end] = line.split(' ');
      return { n: Number(n), slots: (slots ?? '').split(',').map(Number), start: BigInt(start ?? 0), end: BigInt(end ?? 0) };
    });
}

test('slots: 8 runs a mix of 1-, 2-, 4- and 8-slot jobs with no slot shared at any instant, in queue order; a 16-slot job is skipped', async () => {
  const sizes = [1, 2, 1, 4, 8, 2, 2, 1, 1, 16, 4, 4, 1, 2, 8, 1];
  const queue = sizes.map((k, i) => `- command: '${RECORD}'\n  n: ${i + 1}\n  slots: ${k}\n`).join('');
  const dir = await workspace('- hostname: localhost\n  slots: 8\n', queue);
  const result = await runPegasus(['q', '--json'], { cwd: dir });
  assert.equal(result.code, 1, 'the skipped job makes the run fail');
  const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; job?: { n?: string }; reason?: string; slots?: number[]; unrunnable?: unknown[] });
  const skipped = events.filter((e) => e.event === 'job-unrunnable');
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0]?.job?.n, '10');
  assert.match(skipped[0]?.reason ?? '', /needs 16 slots on one sub-node; the largest offers 8/);
  assert.match(await readFile(path.join(dir, 'failed.yaml'), 'utf8'), /n: "?10"?\n\s+slots: "?16"?/);

  // FIFO: jobs start in queue order.
  const startedOrder = events.filter((e) => e.event === 'job-started').map((e) => Number(e.job?.n));
  assert.deepEqual(startedOrder, sizes.map((_, i) => i + 1).filter((n) => n !== 10));

  const ran = await records(dir);
  assert.equal(ran.length, sizes.length - 1);
  for (const r of ran) assert.equal(r.slots.length, sizes[r.n - 1], `job ${r.n} got ${sizes[r.n - 1]} slots: ${r.slots.join(',')}`);
  // No two jobs that overlap in time share a slot.
  for (const a of ran) {
    for (const b of ran) {
      if (a.n >= b.n || a.end <= b.start || b.end <= a.start) continue;
      const shared = a.slots.filter((s) => b.slots.includes(s));
      assert.deepEqual(shared, [], `jobs ${a.n} (${a.slots.join(',')}) and ${b.n} (${b.slots.join(',')}) ran at the same time on the same slots`);
    }
  }
  // And slots were shared out at all: some jobs overlapped.
  assert.ok(ran.some((a) => ran.some((b) => a.n < b.n && a.start < b.end && b.start < a.end)), 'jobs ran side by side');
});

test('buddy gives aligned power-of-two blocks; other sizes are refused with a clear error', async () => {
  const queue = [2, 1, 4, 2, 1, 2, 4].map((k, i) => `- command: '${RECORD}'\n  n: ${i + 1}\n  slots: ${k}\n  allocation_policy: buddy\n`).join('');
  const dir = await workspace('- hostname: localhost\n  slots: 8\n', queue);
  const result = await runPegasus(['q', '--plain'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  for (const r of await records(dir)) {
    const k = r.slots.length;
    assert.equal((r.slots[0] ?? -1) % k, 0, `job ${r.n}: block ${r.slots.join(',')} is aligned to ${k}`);
    assert.deepEqual(r.slots, Array.from({ length: k }, (_, i) => (r.slots[0] ?? 0) + i), 'contiguous');
  }

  const bad = await workspace('- hostname: localhost\n  slots: 8\n', '- command: train\n  slots: 3\n  allocation_policy: buddy\n');
  const refused = await runPegasus(['q'], { cwd: bad });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /queue\.yaml:2:\d+: A queue entry asks for `slots: 3` with `allocation_policy: buddy`, which only gives blocks of 1, 2, 4, 8, … slots\./);
  assert.match(refused.stderr, /Ask for a power of two \(e\.g\. 4\)/);
  assert.equal(await readFile(path.join(bad, 'queue.yaml'), 'utf8'), '- command: train\n  slots: 3\n  allocation_policy: buddy\n', 'nothing was taken');
});

test('{{@job}}, {{@subnode}}, {{@host}}, {{@attempt}} and {{slots}} render; `slots` is not a parameter', async () => {
  const dir = await workspace(
    '- hostname: localhost\n  gpu: [0, 1]\n',
    '- command: echo "job={{@job}} subnode={{@subnode}} host={{@host}} attempt={{@attempt}} slots={{slots}} gpu={{gpu}} x={{x}}"\n  x: [a, b, c]\n',
  );
  const result = await runPegasus(['q', '--plain'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  const lines = [...result.stdout.matchAll(/^\[localhost \(gpu=(\d)\)\] job=(\d) subnode=(\d) host=localhost attempt=1 slots=0 gpu=(\d) x=([abc])$/gm)];
  assert.equal(lines.length, 3, result.stdout);
  assert.deepEqual(lines.map((m) => m[2]).sort(), ['1', '2', '3'], 'jobs are numbered 1..3 in the run');
  for (const m of lines) assert.equal(m[3], m[1], '@subnode is the sub-node index (gpu=N is sub-node N here)');
  assert.deepEqual(
    lines.map((m) => [m[2], m[5]]).sort(),
    [['1', 'a'], ['2', 'b'], ['3', 'c']],
    '@job follows queue order',
  );
});
