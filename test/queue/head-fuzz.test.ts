// The lexer shortcut agrees with a full YAML parse on every queue it is given: same head entry, same rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDocument } from 'yaml';
import { scanHead } from '../../src/queue/head.js';

// Entry shapes users write, including ones with lines that start with "-" inside an entry.
const SHAPES = [
  '- echo plain\n',
  '- echo with comment # note\n',
  '- "double \\"quoted\\" - x"\n',
  "- 'single ''quoted'''\n",
  '- |\n  for i in 1 2; do\n    echo $i\n  done\n',
  '- >-\n  folded\n  - not an item\n',
  '- command:\n    - a {{x}}\n    - b {{x}}\n  x: [1, 2]\n',
  '- command: train\n  lr: [1e-3,\n    1e-4]\n',
  '- command: x\n  # inner comment\n  y: z\n',
  '-\n  command: late start\n',
  "- 'multi\n  line - quoted'\n",
  '- {command: flow, a: [1, 2]}\n',
  '- - nested\n  - list\n',
];
const FILLERS = ['', '\n', '# comment\n', '\n# comment\n\n'];

/** A small deterministic PRNG so a failure is reproducible from its seed. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test('scanHead matches a full parse on 2,000 generated queues', () => {
  const random = rng(42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  for (let round = 0; round < 2000; round++) {
    let text = pick(FILLERS);
    const count = 1 + Math.floor(random() * 4);
    for (let i = 0; i < count; i++) text += pick(SHAPES) + pick(FILLERS);
    const full = parseDocument(text, { schema: 'failsafe' });
    assert.equal(full.errors.length, 0, `generated invalid YAML: ${JSON.stringify(text)}`);
    const items = (full.toJS() as unknown[]) ?? [];
    const scan = scanHead(text);
    assert.equal(scan.kind, 'head', JSON.stringify(text));
    if (scan.kind !== 'head') continue;
    const head = parseDocument(scan.split.head, { schema: 'failsafe' }).toJS() as unknown[];
    assert.deepEqual(head, [items[0]], `head differs for ${JSON.stringify(text)}`);
    const rest = (parseDocument(scan.split.before + scan.split.after, { schema: 'failsafe' }).toJS() as unknown[] | null) ?? [];
    assert.deepEqual(rest, items.slice(1), `rest differs for ${JSON.stringify(text)}`);
  }
});
