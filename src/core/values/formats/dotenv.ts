/**
 * `.env` adapter: a line scanner that uses dotenv's own grammar, so a value is found exactly where
 * `dotenv` (and everything built on it) reads one.
 *
 * Why hand-written: no well-kept library parses .env files keeping positions. `dotenv` (the reference,
 * ~400M downloads a month) returns values only; `@dotenvx/dotenvx` rewrites files through internal
 * helpers and pulls in a CLI's dependencies. So this file reuses dotenv's LINE regular expression
 * verbatim (lib/main.js of motdotla/dotenv 17.x, BSD-2-Clause) with the `d` flag for match offsets,
 * and dotenv's value rules for `envValue` (trim, strip one pair of matching quotes, expand \n and \r
 * in double quotes). Comments, `export`, quoting, blank lines and line ends are never touched.
 *
 * - A value is taken as written (quotes included) and put back unchanged on unseal.
 * - The header entry is a comment line `# kms-envelope: kmsenv:h1:…` added as the last line; dotenv and
 *   shells ignore it.
 */
import { HEADER_KEY, appendLine, removeLine, slotAt, type HeaderSlot, type ParsedValues, type ValueSlot } from './types';

// dotenv's LINE (lib/main.js), unchanged but for the `d` flag.
const LINE =
  /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/dgm;

const HEADER_LINE = new RegExp(`^#[ \\t]*${HEADER_KEY}:[ \\t]*(\\S+)[ \\t]*\\r?$`, 'dm');

/** A value as dotenv reads it (lib/main.js parse): trimmed, one pair of quotes removed, \n and \r expanded in double quotes. */
export function envValue(raw: string): string {
  let value = raw.trim();
  const quote = value[0];
  value = value.replace(/^(['"`])([\s\S]*)\1$/gm, '$2');
  if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
  return value;
}

/** Every variable of a .env text as dotenv's parse() gives it (empty values included; a later line wins). */
export function dotenvEntries(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(LINE)) out.set(m[1]!, envValue(m[2] ?? ''));
  return out;
}

export function parseDotenvValues(text: string, _name: string): ParsedValues {
  const slots: ValueSlot[] = [];
  let header: HeaderSlot | undefined;
  const h = HEADER_LINE.exec(text);
  if (h) {
    const [start, end] = h.indices![1]!;
    header = { token: h[1]!, start, end, remove: removeLine(text, h.index, h.index + h[0].length) };
  }

  for (const m of text.matchAll(LINE)) {
    const [s, e] = m.indices?.[2] ?? [];
    if (s === undefined || e === undefined) continue;
    // The value as written: group 2 without the surrounding blanks dotenv trims.
    let start = s;
    let end = e;
    while (start < end && /\s/.test(text[start]!)) start++;
    while (end > start && /\s/.test(text[end - 1]!)) end--;
    if (start === end) continue;
    slots.push(slotAt(text, [m[1]!], start, end, envValue(text.slice(start, end))));
  }

  return {
    format: 'dotenv',
    slots,
    header,
    insertHeader: (token) => appendLine(text, `# ${HEADER_KEY}: ${token}`),
  };
}
