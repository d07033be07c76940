/**
 * What a format adapter (YAML, JSON/JSONC, .env) tells the values engine about a file, without
 * changing a byte of it: where each leaf value is written (offsets into the text, so the engine
 * replaces exactly those bytes and nothing else), its key path, and where the file's header entry is
 * or would go. The engine never re-serialises a document: every change is a splice of the original
 * text, which is what keeps comments, order, quoting, anchors and formatting.
 */
import { formatPath, type Segment } from '../paths';

export type ValuesFormat = 'yaml' | 'json' | 'dotenv';

/** Replace text[start, end) with `text`. */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

export interface ValueSlot {
  path: Segment[];
  /** formatPath(path): what the value is bound to. */
  pathText: string;
  /** The value as written: text.slice(start, end) (quotes, block-scalar header, escapes included). */
  start: number;
  end: number;
  raw: string;
  /** The value as the format reads it, when it is a string (to recognise sealed tokens, quoted or not). */
  value?: string;
  /**
   * Other places that refer to this value (YAML aliases, merge keys), as paths: a policy that selects
   * one of them seals this value, where it is written.
   */
  aliasPaths: Segment[][];
}

export interface HeaderSlot {
  /** The header entry's value (`kmsenv:h1:…`). */
  token: string;
  /** Where the token is written (inside the quotes in JSON): re-wrapping replaces just this. */
  start: number;
  end: number;
  /** Removes the whole entry (the exact inverse of insertHeader when the entry was added here). */
  remove: Edit;
}

export interface ParsedValues {
  format: ValuesFormat;
  slots: ValueSlot[];
  header?: HeaderSlot;
  /** The edit that adds a header entry holding `token`; throws a usage error when the file cannot take one. */
  insertHeader(token: string): Edit;
}

/** The reserved key (YAML/JSON) or comment marker (.env) of the header entry. */
export const HEADER_KEY = 'kms-envelope';

/** The slot of the value written at text[start, end). */
export function slotAt(text: string, path: Segment[], start: number, end: number, value: unknown): ValueSlot {
  return {
    path,
    pathText: formatPath(path),
    start,
    end,
    raw: text.slice(start, end),
    ...(typeof value === 'string' ? { value } : {}),
    aliasPaths: [],
  };
}

/** Applies non-overlapping edits (any order). */
export function applyEdits(text: string, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let at = 0;
  for (const e of sorted) {
    if (e.start < at) throw new Error(`overlapping edits at offset ${e.start}`);
    out += text.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + text.slice(at);
}

/** 1-based line and column of an offset. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    last = i;
  }
  return { line, col: offset - last };
}

/**
 * A header line appended at the end of the file: after the final newline, keeping a missing final
 * newline missing. `lineEnd` matches the file's line ends.
 */
export function appendLine(text: string, line: string): Edit {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  if (text.length === 0) return { start: 0, end: 0, text: line + eol };
  return text.endsWith('\n')
    ? { start: text.length, end: text.length, text: line + eol }
    : { start: text.length, end: text.length, text: eol + line };
}

/** Removes the line holding [start, end): with its line break, or with the one before it when it is the last line. */
export function removeLine(text: string, start: number, end: number): Edit {
  let s = text.lastIndexOf('\n', start - 1) + 1;
  let e = text.indexOf('\n', end);
  if (e >= 0) return { start: s, end: e + 1, text: '' };
  e = text.length;
  if (s > 0) s -= text[s - 2] === '\r' ? 2 : 1;
  return { start: s, end: e, text: '' };
}
