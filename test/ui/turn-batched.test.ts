// --json and plain output: the lines written in one turn of the event loop reach stdout in one write, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { openScreen, turnBatched } from '../../src/cli/screen.js';
import type { Job } from '../../src/config/jobs.js';
import type { RunEvent, SubNodeRef } from '../../src/run/events.js';

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

test('plain lines of one turn reach stdout in one write, and a line on stderr goes out after the stdout lines printed before it', async () => {
  const writes: string[] = [];
  const fake = (name: string) => ({ isTTY: false, write: (text: string) => writes.push(`${name}:${text}`) }) as unknown as NodeJS.WriteStream;
  const subnode: SubNodeRef = { index: 0, host: 'localhost', label: 'localhost' };
  const job = { command: 'true', params: [] } as unknown as Job;
  const screen = await openScreen({ json: false, plain: true, printPeriod: 1, subnodes: [subnode], title: 't', env: {}, stdout: fake('out'), stderr: fake('err') });
  for (const id of [1, 2]) {
    screen.onEvent({ type: 'job-started', id, subnode, job, command: 'true', attempt: 1 } as RunEvent);
    screen.onEvent({ type: 'job-output', id, subnode, stream: 'stdout', line: `line ${id}` } as RunEvent);
  }
  assert.deepEqual(writes, [], 'nothing is written before the turn ends');
  await turn();
  assert.equal(writes.length, 1, writes.join(''));
  assert.match(writes[0] ?? '', /^out:\[localhost\] === run true ===\n\[localhost\] line 1\n\[localhost\] === run true ===\n\[localhost\] line 2\n$/);
  screen.onEvent({ type: 'job-output', id: 2, subnode, stream: 'stdout', line: 'line 3' } as RunEvent);
  screen.say('pegasus: a message\n');
  assert.deepEqual(writes.slice(1), ['out:[localhost] line 3\n', 'err:pegasus: a message\n']);
  await screen.close();
});
