// Line splitting: whole lines only, \r and \r\n as breaks even across chunks, UTF-8 split across chunks, bounded long lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter, MAX_LINE } from '../../src/exec/lines.js';

function split(chunks: readonly (string | Buffer)[]): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  splitter.end();
  return lines;
}

test('\\n, \\r\\n and a lone \\r each end one line; a last line without a break is kept', () => {
  assert.deepEqual(split(['a\nb\r\nc\rd']), ['a', 'b', 'c', 'd']);
  assert.deepEqual(split(['10%\r20%\r', '30%\n']), ['10%', '20%', '30%']);
});

test('a \\r\\n split across two chunks is one break, not an empty line', () => {
  assert.deepEqual(split(['a\r', '\nb\n']), ['a', 'b']);
  assert.deepEqual(split(['a\r', '\r\nb']), ['a', '', 'b']);
});

test('lines come out whole however the bytes are chunked, multi-byte characters included', () => {
  const text = Buffer.from('héllo ☃ wörld\nsecond line\n');
  const pieces = [...text].map((byte) => Buffer.from([byte]));
  assert.deepEqual(split(pieces), ['héllo ☃ wörld', 'second line']);
});

test('an endless line is emitted in bounded pieces', () => {
  const lines = split(['x'.repeat(MAX_LINE * 2 + 5)]);
  assert.deepEqual(lines.map((l) => l.length), [MAX_LINE, MAX_LINE, 5]);
});
