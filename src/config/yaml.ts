// Reading YAML with positions: every value is kept as written (failsafe schema), every error names file:line:col.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLError } from 'yaml';
import { ConfigError, type Place } from '../errors.js';

/** A parsed YAML text and what is needed to point at places in it. */
export interface YamlSource {
  readonly file: string;
  readonly text: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  /** Lines before `text` in the real file (when `text` is a slice of it, as for a popped entry). */
  readonly lineOffset: number;
}

/** The UTF-8 byte order mark that Windows editors put at the start of a file, as a character. */
export const BOM = '\uFEFF';

/** `text` without a leading byte order mark, and the mark itself ('' when there is none), to put back on rewrite. */
export function splitBom(text: string): { readonly bom: string; readonly body: string } {
  return text.startsWith(BOM) ? { bom: BOM, body: text.slice(1) } : { bom: '', body: text };
}

/**
 * Parses YAML with the failsafe schema, so that a plain scalar's value is its source text
 * (`1e-3` stays `1e-3`, `010` stays `010`, `true` is the command `true`).
 * Throws ConfigError on the first syntax error, with the offending line and a caret.
 * A leading byte order mark is dropped first (issue 13: yaml 2.9 misreads `<BOM>- a` as an error),
 * so columns on the first line are counted as the user's editor shows them.
 */
export function parseYaml(withBom: string, file: string, lineOffset = 0): YamlSource {
  const text = splitBom(withBom).body;
  const lines = new LineCounter();
  const doc = parseDocument(text, { schema: 'failsafe', lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const source: YamlSource = { file, text, doc, lines, lineOffset };
  const error = doc.errors[0];
  if (error) throw syntaxError(source, error);
  return source;
}

/** The place of a node (or a source offset) in its file. */
export function placeOf(source: YamlSource, at: Node | number | undefined): Place {
  const offset = typeof at === 'number' ? at : at?.range?.[0];
  if (offset === undefined) return { file: source.file };
  const pos = source.lines.linePos(offset);
  return { file: source.file, line: pos.line + source.lineOffset, col: pos.col };
}

/** The source line at an offset with a caret under the column, for error excerpts. */
export function excerptAt(source: YamlSource, offset: number): string {
  const { line, col } = source.lines.linePos(offset);
  const start = source.lines.lineStarts[line - 1] ?? 0;
  const end = source.text.indexOf('\n', start);
  const text = source.text.slice(start, end === -1 ? undefined : end).replace(/\r$/, '');
  const number = String(line + source.lineOffset);
  return `  ${number} | ${text}\n  ${' '.repeat(number.length)} | ${' '.repeat(Math.max(0, col - 1))}^`;
}

function syntaxError(source: YamlSource, error: YAMLError): ConfigError {
  const offset = error.pos[0];
  // yaml's messages end with "at line N, column M:" and a code frame; we print our own.
  const what = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').trim();
  return new ConfigError(`${source.file} is not valid YAML: ${what}.`, {
    place: placeOf(source, offset),
    excerpt: excerptAt(source, offset),
    fix: 'Fix the YAML at that line (check indentation, quotes and brackets; a value containing ": " or starting with a special character needs quotes), then run pegasus again.',
  });
}

/** A readable name for a node's kind, for messages ("a map", "a list", "a string"). */
export function kindOf(node: unknown): string {
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return 'a string';
  if (node === null || node === undefined) return 'nothing';
  return 'an alias or other node';
}

/** The string a scalar node holds as written; an empty value (`key:`) is the empty string. */
export function scalarText(node: unknown): string | undefined {
  if (node === null || node === undefined) return '';
  if (!isScalar(node)) return undefined;
  const value = node.value;
  return value === null || value === undefined ? '' : String(value);
}
