// Counting the entries of a queue file for the panel and the progress line: cheap, read only when the file changed.
import { readFile, stat } from 'node:fs/promises';
import { splitBom } from '../config/yaml.js';

/** Top-level list items: lines starting with `-` then a space or the end of the line, at column 0. */
const ITEM = /^-(?:[ \t]|$)/gm;

/** The number of entries in a queue text (approximate for a top-level list written indented or in flow style). */
export function countEntries(text: string): number {
  return splitBom(text).body.match(ITEM)?.length ?? 0;
}

/** Returns a function that counts the entries of `file` when its modification time or size changed since the last call. */
export function entryCounter(file: string): () => Promise<number | undefined> {
  let seen = '';
  let count: number | undefined;
  return async () => {
    try {
      const s = await stat(file);
      const key = `${s.mtimeMs}:${s.size}`;
      if (key !== seen) {
        seen = key;
        count = countEntries(await readFile(file, 'utf8'));
      }
      return count;
    } catch {
      return undefined;
    }
  };
}
