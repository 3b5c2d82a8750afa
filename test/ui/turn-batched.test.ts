// --json output: the lines written in one turn of the event loop reach stdout in one write, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { turnBatched } from '../../src/cli/screen.js';

test('lines written in one turn go out as one write, in order; a later turn gets its own', async () => {
  const writes: string[] = [];
  const out = turnBatched((text) => writes.push(text));
  out.write('{"event":"job-finished","id":1}\n');
  out.write('{"event":"job-finished","id":2}\n');
  out.write('{"event":"job-started","id":3}\n');
  assert.deepEqual(writes, [], 'nothing is written before the turn ends');
  await turn();
  assert.deepEqual(writes, ['{"event":"job-finished","id":1}\n{"event":"job-finished","id":2}\n{"event":"job-started","id":3}\n']);
  out.write('{"event":"job-finished","id":3}\n');
  await turn();
  assert.equal(writes.length, 2);
  assert.equal(writes[1], '{"event":"job-finished","id":3}\n');
});

test('flush() writes what the turn holds at once (the summary line comes after it), and nothing twice', async () => {
  const writes: string[] = [];
  const out = turnBatched((text) => writes.push(text));
  out.write('a\n');
  out.flush();
  writes.push('summary\n');
  await turn();
  out.flush();
  assert.deepEqual(writes, ['a\n', 'summary\n']);
});
