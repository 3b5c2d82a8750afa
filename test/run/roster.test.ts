// The roster (issue 14): standings under pause, drain and resume; what a hosts.yaml edit adds, removes and replaces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHosts } from '../../src/config/hosts.js';
import type { RunEvent } from '../../src/run/events.js';
import { Roster } from '../../src/run/roster.js';

const hosts = (text: string) => parseHosts(text, 'hosts.yaml');

function roster(text: string) {
  const events: RunEvent[] = [];
  const r = new Roster(hosts(text), (e) => events.push(e));
  const states = () => Object.fromEntries(r.list().map((s) => [s.label, s.standing]));
  return { r, events, states };
}

test('pause and drain by host or label; resume HOST resumes its sub-nodes however they were held', async () => {
  const { r, states, events } = roster('- hostname: a\n  gpu: [0, 1]\n- b\n');
  r.steer('pause', ['a (gpu=0)']);
  r.steer('drain', ['b']);
  assert.deepEqual(states(), { 'a (gpu=0)': 'paused', 'a (gpu=1)': 'taking', b: 'draining' });
  const [a0, , b] = r.subnodes;
  assert.equal(r.mayPlace(a0!), false);
  assert.equal(r.isLeaving(a0!), false);
  assert.equal(r.isLeaving(b!), true);
  const hungUp: string[] = [];
  await r.park(b!, async (host) => void hungUp.push(host));
  assert.deepEqual(hungUp, ['b']);
  assert.equal(states()['b'], 'drained');
  r.steer('resume', ['a']);
  assert.equal(states()['a (gpu=0)'], 'taking');
  r.steer('resume', []);
  assert.equal(await r.untilBack(b!, AbortSignal.timeout(1000)), true);
  assert.deepEqual(states(), { 'a (gpu=0)': 'taking', 'a (gpu=1)': 'taking', b: 'taking' });
  assert.ok(events.some((e) => e.type === 'subnode-state' && e.subnode.label === 'b' && e.state === 'drained'));
});

test('a host is hung up only when none of its sub-nodes still runs', async () => {
  const { r } = roster('- hostname: a\n  gpu: [0, 1]\n');
  r.steer('drain', ['a']);
  const [a0, a1] = r.subnodes;
  const hungUp: string[] = [];
  await r.park(a0!, async (host) => void hungUp.push(host));
  assert.equal(hungUp.length, 0);
  await r.park(a1!, async (host) => void hungUp.push(host));
  assert.deepEqual(hungUp, ['a']);
});

test('hosts.yaml edits: new labels join with fresh indices, missing ones are removing until parked, a changed slot count is replaced after', async () => {
  const { r, states, events } = roster('- a\n- hostname: b\n  slots: 2\n');
  const joined: string[] = [];
  r.onJoin((s) => joined.push(`${s.label}#${s.index}`));
  const change = r.apply(hosts('- hostname: b\n  slots: 4\n- c\n'));
  assert.deepEqual(change, { added: ['c'], removed: ['a'], changed: ['b'] });
  assert.deepEqual(joined, ['c#2']);
  assert.deepEqual(states(), { a: 'removing', b: 'removing', c: 'taking' });
  const [a, b] = r.subnodes;
  await r.park(a!);
  assert.equal(r.knows('a'), false);
  await r.park(b!);
  assert.deepEqual(joined, ['c#2', 'b#3']);
  assert.equal(r.subnodes.find((s) => s.label === 'b')?.slots, 4);
  assert.ok(events.some((e) => e.type === 'subnode-state' && e.subnode.label === 'a' && e.state === 'removed'));
  // Listed again before it left: it stays.
  r.apply(hosts('- c\n'));
  assert.equal(states()['b'], 'removing');
  r.apply(hosts('- c\n- hostname: b\n  slots: 4\n'));
  assert.equal(states()['b'], 'taking');
});
