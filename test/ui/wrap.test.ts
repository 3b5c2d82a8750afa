// Wrapping output lines for the live view, and choosing colour from the environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { colourLevel, painter } from '../../src/ui/colour.js';
import { widthOf, wrapPrefixed } from '../../src/ui/wrap.js';

test('a long line wraps to the width with the prefix repeated on every piece', () => {
  const text = wrapPrefixed('[n1]', 4, 'a'.repeat(25), 15);
  assert.equal(text, '[n1] aaaaaaaaaa\n[n1] aaaaaaaaaa\n[n1] aaaaa\n');
  assert.equal(wrapPrefixed('[n1]', 4, 'short', 15), '[n1] short\n');
});

test('wide characters and colour codes are measured as the terminal shows them', () => {
  const text = wrapPrefixed('[n1]', 4, '日本語のテキストです', 15); // 20 columns of text, 10 fit
  const pieces = text.trimEnd().split('\n');
  assert.equal(pieces.length, 2, text);
  for (const piece of pieces) assert.ok(widthOf(piece) <= 15, piece);
  const red = wrapPrefixed('[n1]', 4, '\u001b[31mred\u001b[39m', 15);
  assert.equal(red, '[n1] \u001b[31mred\u001b[39m\n', 'escape codes take no room');
  const coloured = painter(1).prefix('n1', 0);
  assert.equal(widthOf(coloured), 4);
});

test('NO_COLOR turns colour off, FORCE_COLOR on even when piped, a dumb or piped terminal gets none', () => {
  assert.equal(colourLevel({}, true), 1);
  assert.equal(colourLevel({ NO_COLOR: '1' }, true), 0);
  assert.equal(colourLevel({ TERM: 'dumb' }, true), 0);
  assert.equal(colourLevel({}, false), 0);
  assert.equal(colourLevel({ FORCE_COLOR: '1' }, false), 1);
  assert.equal(colourLevel({ FORCE_COLOR: '0' }, true), 0);
  assert.equal(colourLevel({ TERM: 'xterm-256color' }, true), 2);
  assert.equal(painter(0).prefix('n1', 3), '[n1]');
  assert.match(painter(1).prefix('n1', 3), /^\u001b\[\d+m\[n1\]\u001b\[39m$/);
});
