// Finding the head entry with the lexer: exact byte ranges, comments left in place, odd shapes handed to a full parse.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scanHead, scanHeadBytes } from '../../src/queue/head.js';

function split(text: string) {
  const scan = scanHead(text);
  assert.equal(scan.kind, 'head');
  if (scan.kind !== 'head') throw new Error('unreachable');
  assert.equal(scan.split.before + scan.split.head + scan.split.after, text);
  return scan.split;
}

test('the head takes its trailing comment; comments before the next entry stay', () => {
  const s = split('# header\n- echo hi # mine\n\n# about b\n- b\n');
  assert.equal(s.before, '# header\n');
  assert.equal(s.head, '- echo hi # mine\n');
  assert.equal(s.after, '\n# about b\n- b\n');
  assert.equal(s.headLine, 1);
});

test('block scalars and flow lists inside the head, even with lines starting with "-"', () => {
  const text = '- command:\n    - a\n    - |\n      multi\n      - line\n  x: [1,\n    2]\n# next\n- next\n';
  const s = split(text);
  assert.equal(s.after, '# next\n- next\n');
  assert.ok(s.complete);
});

test('a multi-line quoted scalar is one entry', () => {
  assert.equal(split("- 'a\n  - b'\n- c\n").head, "- 'a\n  - b'\n");
});

test('indented lists, documents markers, CRLF and a missing final newline', () => {
  assert.equal(split('  - a\n  - b\n').head, '  - a\n');
  assert.equal(split('---\n- a\n- b\n').before, '---\n');
  assert.equal(split('- a\r\n- b\r\n').head, '- a\r\n');
  const last = split('- a');
  assert.equal(last.head, '- a');
  assert.equal(last.complete, false);
});

test('empty and comment-only queues are empty; other shapes go to the full parser', () => {
  assert.equal(scanHead('').kind, 'empty');
  assert.equal(scanHead('# just a comment\n\n').kind, 'empty');
  assert.equal(scanHead('[a, b]\n').kind, 'other');
  assert.equal(scanHead('command: x\n').kind, 'other');
  assert.equal(scanHead('- a\n---\n- b\n').kind, 'other');
});

test('scanHeadBytes reads only as much as the head needs and gives the byte offset (multi-byte text)', () => {
  const text = `- échø ☃\n${'- filler entry with some text\n'.repeat(20000)}`;
  const data = Buffer.from(text);
  const { scan, headEndByte } = scanHeadBytes(data);
  assert.equal(scan.kind, 'head');
  assert.equal(data.subarray(0, headEndByte).toString(), '- échø ☃\n');
});

test('a block scalar entry ends where the next item starts (its body is one token starting with spaces)', () => {
  const s = split('# c\n- |\n  for i in 1 2; do\n    echo $i\n  done\n- echo next\n');
  assert.equal(s.before, '# c\n');
  assert.equal(s.head, '- |\n  for i in 1 2; do\n    echo $i\n  done\n');
  assert.equal(s.after, '- echo next\n');
});
