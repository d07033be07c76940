/**
 * JSON and JSONC adapter over `jsonc-parser`'s syntax tree (offsets of every value; comments and
 * trailing commas allowed). Nothing is re-serialised: a value is replaced in place by a JSON string
 * holding its sealed token, and unsealing puts back the value exactly as it was written (a number
 * stays a number, escapes stay as they were).
 *
 * The header entry is the root object's FIRST property, `"kms-envelope": "kmsenv:h1:…",`, written
 * with the same line break and indentation as the property it precedes. (First rather than last:
 * appending after the last property would have to move a trailing comma or comment; inserting before
 * the first touches nothing and is undone exactly.)
 */
import { modify, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { formatError, usageError } from '../../errors';
import type { Segment } from '../paths';
import { HEADER_KEY, lineCol, slotAt, type Edit, type HeaderSlot, type ParsedValues, type ValueSlot } from './types';

/** The whitespace run (with at most one line break) just before `offset`. */
function leadBefore(text: string, offset: number): string {
  let s = offset;
  while (s > 0 && (text[s - 1] === ' ' || text[s - 1] === '\t')) s--;
  if (text[s - 1] === '\n') s--;
  if (text[s - 1] === '\r') s--;
  return text.slice(s, offset);
}

export function parseJsonValues(text: string, name: string): ParsedValues {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length || !root) {
    const e = errors[0];
    const at = e ? lineCol(text, e.offset) : undefined;
    throw formatError(
      `${name}${at ? `:${at.line}:${at.col}` : ''}: not valid JSON: ${e ? printParseErrorCode(e.error) : 'empty document'}`,
      'Fix the JSON (your editor shows where), then try again.',
    );
  }
  const slots: ValueSlot[] = [];
  let header: (HeaderSlot & { prop: Node }) | undefined;

  const walk = (node: Node, path: Segment[]) => {
    if (node.type === 'object') {
      for (const prop of node.children ?? []) {
        const [k, v] = prop.children ?? [];
        if (!k || !v) continue;
        const key = String(k.value);
        if (node === root && key === HEADER_KEY) {
          if (v.type !== 'string') {
            throw formatError(
              `${name}:${lineCol(text, k.offset).line}: the top-level key "${HEADER_KEY}" is reserved for the sealed-values header, and this one holds no header.`,
              'Rename that key, or restore the header line the file was sealed with.',
            );
          }
          header = {
            token: v.value as string,
            start: v.offset + 1,
            end: v.offset + v.length - 1,
            remove: { start: 0, end: 0, text: '' },
            prop,
          };
          continue;
        }
        walk(v, [...path, key]);
      }
    } else if (node.type === 'array') {
      (node.children ?? []).forEach((item, i) => walk(item, [...path, i]));
    } else if (node.type !== 'null' && node.type !== 'property') {
      slots.push(slotAt(text, path, node.offset, node.offset + node.length, node.value));
    }
  };
  walk(root, []);

  if (header) header.remove = removeHeader(text, root, header.prop);

  return {
    format: 'json',
    slots,
    header,
    insertHeader(token) {
      if (root.type !== 'object') {
        throw usageError(
          `${name}: the kms-envelope header needs an object at the top of the file, and this one is ${root.type === 'array' ? 'an array' : `a ${root.type}`}.`,
          'Seal the values of JSON files whose top level is an object, or seal the whole file instead.',
        );
      }
      const entry = `${JSON.stringify(HEADER_KEY)}: ${JSON.stringify(token)}`;
      const first = root.children?.[0];
      if (!first) return { start: root.offset + 1, end: root.offset + 1, text: entry };
      return { start: first.offset, end: first.offset, text: `${entry},${leadBefore(text, first.offset)}` };
    },
  };
}

function removeHeader(text: string, root: Node, prop: Node): Edit {
  const props = root.children ?? [];
  const i = props.indexOf(prop);
  const next = props[i + 1];
  const end = prop.offset + prop.length;
  // What insertHeader wrote: the entry, a comma, then the same lead as the next property has.
  if (next && text[end] === ',' && /^[ \t]*(\r?\n)?[ \t]*$/.test(text.slice(end + 1, next.offset))) {
    return { start: prop.offset, end: next.offset, text: '' };
  }
  if (!next && props.length === 1) return { start: prop.offset, end, text: '' };
  // Moved or reformatted by hand: let jsonc-parser remove the property (and its comma).
  const [edit, ...more] = modify(text, [HEADER_KEY], undefined, { formattingOptions: { insertSpaces: true, tabSize: 2 } });
  if (!edit || more.length) throw new Error('jsonc-parser returned an unexpected edit for the header removal');
  return { start: edit.offset, end: edit.offset + edit.length, text: edit.content };
}
