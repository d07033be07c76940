/**
 * Key paths: where a value sits in a config file, as text (`database.password`, `servers[0].token`,
 * `["key.with.dots"]`). A sealed value is bound to its path (it is part of the value's authenticated
 * data), so the text form must be canonical: one path, one spelling.
 *
 * - A map key that looks like an identifier (`[A-Za-z_][A-Za-z0-9_-]*`) is written bare, joined by `.`;
 *   any other key is written as a JSON string in brackets: `["a.b"]`, `["1"]`, `["*"]`.
 * - A sequence index is written `[n]`.
 * - A `.env` variable's path is its name.
 *
 * Patterns (policy `keyPaths`) use the same syntax plus `*` (any one segment: key or index) and `**`
 * (any number of segments, also none): `services[*].token`, `**.password`.
 */
import { usageError } from '../errors';

export type Segment = string | number;

const SIMPLE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function formatPath(path: readonly Segment[]): string {
  let out = '';
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (SIMPLE.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** The last map key on the path (what a key-name regex is matched against); '' for a path of indices. */
export function keyNameOf(path: readonly Segment[]): string {
  for (let i = path.length - 1; i >= 0; i--) if (typeof path[i] === 'string') return path[i] as string;
  return '';
}

const ANY_ONE = Symbol('*');
const ANY_MANY = Symbol('**');
export type PatternSegment = Segment | typeof ANY_ONE | typeof ANY_MANY;

/** Parses a path, or a pattern when `pattern` is set; throws a message (no position) on bad syntax. */
function parseSegments(text: string, pattern: boolean): PatternSegment[] {
  const out: PatternSegment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at character ${i + 1} of "${text}"`);
  };
  if (!text) fail('empty path');
  while (i < text.length) {
    const c = text[i]!;
    if (c === '[') {
      const close = text.indexOf(']', i);
      if (text[i + 1] === '"') {
        // A JSON string: find its closing quote (skipping escapes), then `]`.
        let j = i + 2;
        while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
        if (text[j + 1] !== ']') fail('unterminated ["…"] segment');
        try {
          out.push(JSON.parse(text.slice(i + 1, j + 1)) as string);
        } catch {
          fail('bad JSON string in ["…"]');
        }
        i = j + 2;
      } else {
        if (close < 0) fail('missing "]"');
        const inner = text.slice(i + 1, close);
        if (/^(0|[1-9][0-9]*)$/.test(inner)) out.push(Number(inner));
        else if (pattern && inner === '*') out.push(ANY_ONE);
        else fail(`"[${inner}]" is neither an index nor a quoted key`);
        i = close + 1;
      }
    } else {
      if (out.length) {
        if (c !== '.') fail('expected "." or "["');
        i++;
      }
      const m = /^[A-Za-z0-9_*-]+/.exec(text.slice(i));
      if (!m) fail('expected a key');
      const word = m![0];
      if (pattern && word === '*') out.push(ANY_ONE);
      else if (pattern && word === '**') out.push(ANY_MANY);
      else if (SIMPLE.test(word)) out.push(word);
      else fail(`"${word}" must be written as ["${word}"]`);
      i += word.length;
    }
  }
  return out;
}

export function parsePath(text: string): Segment[] {
  return parseSegments(text, false) as Segment[];
}

export interface PathPattern {
  text: string;
  segments: PatternSegment[];
}

/** Throws a usage error naming the pattern when it does not parse. */
export function parsePathPattern(text: string): PathPattern {
  try {
    return { text, segments: parseSegments(text, true) };
  } catch (err) {
    throw usageError(
      `Bad key path pattern: ${(err as Error).message}.`,
      'Write key paths like database.password, servers[*].token or **.secret.',
    );
  }
}

/** True when the pattern matches the whole path or a leading part of it (a container and all below it). */
export function matchesPathOrParent(p: PathPattern, path: readonly Segment[]): boolean {
  const segs = p.segments;
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    if (i === segs.length) return true; // the rest of the path is below a matched container
    const k = i * (path.length + 1) + j;
    const known = memo.get(k);
    if (known !== undefined) return known;
    const s = segs[i];
    let r: boolean;
    if (s === ANY_MANY) r = go(i + 1, j) || (j < path.length && go(i, j + 1));
    else if (j === path.length) r = false;
    else if (s === ANY_ONE) r = go(i + 1, j + 1);
    else r = s === path[j] && go(i + 1, j + 1);
    memo.set(k, r);
    return r;
  };
  return go(0, 0);
}
