// Wrapping a sub-node's line to the terminal width, the prefix repeated on every piece.
import stringWidth from 'string-width';
import wrapAnsi from 'wrap-ansi';

// Printable ASCII: one column per character, so the width is the length (the common case, kept cheap).
const SIMPLE = /^[\x20-\x7e]*$/;

/** Measures the width of a prefix once; it is reused for every line of the sub-node. */
export function widthOf(text: string): number {
  return stringWidth(text);
}

/**
 * `prefix text`, cut into pieces that fit `columns` (wide characters and escape codes measured as a
 * terminal shows them), each piece starting with the prefix. Ends with a newline.
 */
export function wrapPrefixed(prefix: string, prefixWidth: number, text: string, columns: number): string {
  const room = Math.max(10, columns - prefixWidth - 1);
  const head = `${prefix} `;
  if (SIMPLE.test(text)) {
    if (text.length <= room) return `${head}${text}\n`;
    let out = '';
    for (let at = 0; at < text.length; at += room) out += `${head}${text.slice(at, at + room)}\n`;
    return out;
  }
  const clean = text.replace(/\t/g, '    ');
  if (stringWidth(clean) <= room) return `${head}${clean}\n`;
  return `${wrapAnsi(clean, room, { hard: true, trim: false, wordWrap: false })
    .split('\n')
    .map((piece) => `${head}${piece}`)
    .join('\n')}\n`;
}
