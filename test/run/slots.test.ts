// Slot allocation: first_fit prefers even-aligned blocks, buddy gives only aligned power-of-two blocks, nothing is handed out twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotSet } from '../../src/run/slots.js';

test('first_fit: even-aligned contiguous block first, then any contiguous block, then any free slots', () => {
  const slots = new SlotSet(8);
  const one = slots.find(1, 'first_fit')!;
  assert.deepEqual(one, [0]);
  slots.take(one);
  assert.deepEqual(slots.find(2, 'first_fit'), [2, 3], 'skips the odd start 1');
  slots.take([2, 3, 4]);
  // free: 1, 5, 6, 7 — a 2-block at an even start is 6-7
  assert.deepEqual(slots.find(2, 'first_fit'), [6, 7]);
  // a 3-block: no even-aligned one (6-8 is past the end), contiguous 5-7
  assert.deepEqual(slots.find(3, 'first_fit'), [5, 6, 7]);
  // 4 slots: no contiguous block of 4 free, so any free ones
  assert.deepEqual(slots.find(4, 'first_fit'), [1, 5, 6, 7]);
  assert.equal(slots.find(5, 'first_fit'), undefined);
});

test('buddy: only power-of-two blocks aligned to their size', () => {
  const slots = new SlotSet(8);
  slots.take([1]);
  assert.deepEqual(slots.find(2, 'buddy'), [2, 3], 'not 0-1: slot 1 is taken');
  assert.deepEqual(slots.find(4, 'buddy'), [4, 5, 6, 7]);
  slots.take([4]);
  assert.equal(slots.find(4, 'buddy'), undefined, '0-3 and 4-7 both have a slot taken, though 5 slots are free');
  assert.equal(slots.find(3, 'buddy'), undefined, '3 is not a power of two');
  assert.deepEqual(slots.find(1, 'buddy'), [0]);
});

test('slots are counted, released once, and never handed out twice', () => {
  const slots = new SlotSet(4);
  const a = slots.find(2, 'first_fit')!;
  slots.take(a);
  assert.throws(() => slots.take(a), /already in use/);
  assert.equal(slots.free, 2);
  slots.release(a);
  slots.release(a);
  assert.equal(slots.free, 4);
  assert.deepEqual(slots.occupancy(), [false, false, false, false]);
});
