// The channel budget of one SSH connection: how many channels it opens at once, learnt from sshd's refusals (issue 17).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChannelBudget } from '../../src/exec/channel-budget.js';

/**
 * A host that accepts `room` channels at once, fed by more jobs than that: each step opens channels
 * up to the budget; those past `room` are refused, the rest run and end. Returns the refusals.
 */
function drive(budget: ChannelBudget, room: number, jobs: number): number {
  let refusals = 0;
  for (let done = 0; done < jobs; ) {
    const opened = budget.limit;
    const accepted = Math.min(opened, room);
    for (let i = accepted; i < opened; i++) {
      refusals += 1;
      budget.refused(accepted);
    }
    for (let i = 0; i < accepted; i++) budget.succeeded();
    done += accepted;
  }
  return refusals;
}

test('on a host with room for one channel, 1,000 jobs cost a handful of refusals, not one per job or two', () => {
  // --max-sessions 4 on MaxSessions 2 with the host guard holding one session.
  const refusals = drive(new ChannelBudget(4), 1, 1000);
  assert.ok(refusals <= 12, `${refusals} refusals`);
  assert.ok(refusals >= 3, 'the first channels over the room are refused: the budget learns from them');
});

test('a single refusal on a roomy host costs one level for a few channels, then the full budget is back', () => {
  const budget = new ChannelBudget(4);
  budget.refused(3);
  assert.equal(budget.limit, 3);
  let channels = 0;
  while (budget.limit < 4 && channels < 100) {
    budget.succeeded();
    channels += 1;
  }
  assert.equal(budget.limit, 4);
  assert.equal(channels, 8);
});

test('a refusal with nothing else open keeps one channel: the budget never reaches zero', () => {
  const budget = new ChannelBudget(4);
  for (let i = 0; i < 5; i++) budget.refused(0);
  assert.equal(budget.limit, 1);
});

test('a copy for another connection to the same host starts from what was learnt', () => {
  const budget = new ChannelBudget(4);
  budget.refused(1);
  const next = budget.copy();
  assert.equal(next.limit, 1);
  assert.equal(drive(next, 1, 8), 0, 'the new connection is not refused at once again');
});

test('the second refusal in a row with no other channel open says the connection has no room beside what holds it (the guard, MaxSessions 1)', () => {
  const budget = new ChannelBudget(4);
  assert.equal(budget.refused(1), false);
  assert.equal(budget.refused(0), false, 'once alone can still be a session sshd had not freed yet');
  assert.equal(budget.refused(0), true);
  const other = new ChannelBudget(4);
  other.refused(0);
  other.succeeded();
  assert.equal(other.refused(0), false, 'a success in between: there is room');
});
