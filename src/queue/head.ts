// Finding the first entry of a queue text without parsing the rest: the yaml lexer stops after the head item.
import { CST, Lexer } from 'yaml';

/** A queue text cut around its first top-level item; `before + head + after` is the whole text. */
export interface HeadSplit {
  readonly before: string;
  /** The first item's lines, from the start of its `-` line to the end of its last content line. */
  readonly head: string;
  readonly after: string;
  /** 0-based line number where `head` starts. */
  readonly headLine: number;
  /** True when the scan saw what follows the head (the next item); false when the text ended first. */
  readonly complete: boolean;
}

/** What the lexer found: the queue has no items, its head item, or a shape this fast path leaves to a full parse. */
export type HeadScan = { readonly kind: 'empty' } | { readonly kind: 'head'; readonly split: HeadSplit } | { readonly kind: 'other' };

// Marker tokens the lexer emits that are not source text.
const MARKERS = new Set([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR]);

/**
 * Scans only the first bytes of a queue file when they hold the whole head item, so that a pop
 * costs the same on a 100-entry and a 100,000-entry queue (the rest is copied as bytes).
 * Returns the split and the byte length of `before + head`.
 */
export function scanHeadBytes(data: Buffer): { readonly scan: HeadScan; readonly headEndByte: number } {
  for (let size = 64 * 1024; ; size *= 4) {
    const whole = size >= data.length;
    const scan = scanHead(data.toString('utf8', 0, Math.min(size, data.length)));
    if (whole || (scan.kind === 'head' && scan.split.complete)) {
      const headEndByte = scan.kind === 'head' ? Buffer.byteLength(scan.split.before) + Buffer.byteLength(scan.split.head) : 0;
      return { scan, headEndByte };
    }
  }
}

/**
 * Splits off the head item of a block-sequence queue. Work is proportional to the head item, not
 * the file (issue 3: a 100,000-entry queue pops in milliseconds). Anything else (a flow list, a map,
 * a second document) returns `other`, and the caller parses the whole text to report or handle it.
 */
export function scanHead(text: string): HeadScan {
  let offset = 0;
  let lineStart = 0; // offset of the current line's first character
  let atLineStart = true; // only indentation seen on this line so far
  let flowDepth = 0;
  let scalarNext = false;
  let itemColumn = -1; // column of the first item's `-`
  let headStart = -1;
  let contentEnd = -1; // end offset of the last non-space, non-comment token of the head item
  for (const token of new Lexer().lex(text)) {
    if (token === CST.FLOW_END) flowDepth = 0; // the lexer gave up on a badly indented flow collection
    if (MARKERS.has(token)) {
      scalarNext = token === CST.SCALAR;
      continue;
    }
    const start = offset;
    offset += token.length;
    // After the SCALAR marker comes scalar text, whatever its first character (a block scalar's body starts with spaces).
    const type = scalarNext ? 'scalar' : CST.tokenType(token);
    scalarNext = false;
    if (type === 'newline') {
      lineStart = offset;
      atLineStart = true;
      continue;
    }
    if (type === 'space' && atLineStart) continue;
    if (type === 'byte-order-mark') {
      lineStart = offset;
      continue;
    }
    // A comment always runs to the end of its line, so it never decides where an item starts.
    if (type === 'comment') continue;
    if (type === 'directive-line') {
      atLineStart = false;
      continue;
    }
    // A block scalar's body token starts with its indentation; its column is that of its first character.
    const column = start + (token.length - token.trimStart().length) - lineStart;
    if (headStart === -1) {
      if (type === 'doc-start') {
        atLineStart = false;
        continue;
      }
      if (type !== 'seq-item-ind' || !atLineStart) return { kind: 'other' };
      itemColumn = column;
      headStart = lineStart;
    } else if (flowDepth === 0 && atLineStart && column <= itemColumn) {
      // The next item, or the end of the list (a second document, or text that is not an item).
      if (type !== 'seq-item-ind' || column !== itemColumn) return { kind: 'other' };
      return { kind: 'head', split: cut(text, headStart, contentEnd, true) };
    }
    atLineStart = false;
    if (type === 'flow-seq-start' || type === 'flow-map-start') flowDepth += 1;
    if ((type === 'flow-seq-end' || type === 'flow-map-end') && flowDepth > 0) flowDepth -= 1;
    if (type === 'space') continue;
    // Block scalar bodies and multi-line quoted scalars are single tokens that span lines.
    const lastNewline = token.lastIndexOf('\n');
    if (lastNewline !== -1) {
      lineStart = start + lastNewline + 1;
      atLineStart = lineStart === offset;
    }
    contentEnd = start + token.trimEnd().length;
  }
  if (headStart === -1) return { kind: 'empty' };
  return { kind: 'head', split: cut(text, headStart, contentEnd, false) };
}

function cut(text: string, headStart: number, contentEnd: number, complete: boolean): HeadSplit {
  // The head takes the rest of its last content line (a trailing comment, the newline) with it.
  const newline = text.indexOf('\n', contentEnd);
  const headEnd = newline === -1 ? text.length : newline + 1;
  let headLine = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < headStart; i = text.indexOf('\n', i + 1)) headLine += 1;
  return { before: text.slice(0, headStart), head: text.slice(headStart, headEnd), after: text.slice(headEnd), headLine, complete };
}
