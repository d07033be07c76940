/**
 * YAML adapter over the `yaml` library's document model: it reports where each leaf scalar is written
 * (`node.range`), never re-serialises, so comments, anchors, order, quoting and block scalars stay
 * byte for byte. A value is taken as written (quotes, tags' targets, `|`/`>` headers included), so
 * unsealing puts back exactly what was there.
 *
 * - Aliases: `other: *pw` refers to the value at the anchor; a policy that selects `other` seals the
 *   anchored value where it is written (the alias keeps pointing at it). Merge keys (`<<: *base`)
 *   make the merged values reachable under the merging map's path too.
 * - The header entry is the root mapping's `kms-envelope:` key, added as the file's last line.
 * - One document per file, with a block mapping at its root (the header needs a place there).
 */
import { isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, parseDocument, type Document, type Node } from 'yaml';
import { formatError, usageError } from '../../errors';
import type { Segment } from '../paths';
import { HEADER_KEY, appendLine, lineCol, removeLine, slotAt, type HeaderSlot, type ParsedValues, type ValueSlot } from './types';

const MERGE_KEY = '<<';

function keySegment(key: unknown): Segment {
  if (isScalar(key)) return typeof key.value === 'string' ? key.value : String(key.value);
  return String(key);
}

export function parseYamlValues(text: string, name: string): ParsedValues {
  const docs = parseAllDocuments(text);
  if (docs.length > 1) {
    throw usageError(
      `${name} holds ${docs.length} YAML documents; sealing values works on files with one document.`,
      'Split the documents into one file each.',
    );
  }
  // An empty stream (nothing, or only comments) has no document: parse it as one empty document.
  const doc = docs[0] ?? parseDocument(text);
  const err = doc.errors[0];
  if (err) {
    const at = err.linePos?.[0];
    throw formatError(
      `${name}${at ? `:${at.line}:${at.col}` : ''}: not valid YAML: ${err.message.split('\n')[0]}`,
      'Fix the YAML (your editor shows where), then try again.',
    );
  }
  const slots: ValueSlot[] = [];
  const paths = new Map<unknown, Segment[]>();
  const aliases: Array<{ node: Node; at: Segment[] }> = [];
  let header: HeaderSlot | undefined;
  const root = doc.contents;

  const walk = (node: unknown, path: Segment[]) => {
    if (node == null) return;
    paths.set(node, path);
    if (isAlias(node)) {
      // `<<: *base` (or `<<: [*a, *b]`) merges into the map that holds the `<<` key.
      const m = path.lastIndexOf(MERGE_KEY);
      aliases.push({ node, at: m >= 0 && path.slice(m + 1).every((s) => typeof s === 'number') ? path.slice(0, m) : path });
    } else if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = keySegment(pair.key);
        if (node === root && key === HEADER_KEY) {
          header = headerOf(text, name, pair.key, pair.value);
          continue;
        }
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && node.range && node.value !== null) {
      const [start, end0] = node.range;
      let end = end0;
      if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') while (end > start && /\s/.test(text[end - 1]!)) end--;
      slots.push(slotAt(text, path, start, end, node.value));
    }
  };
  walk(root, []);

  for (const { node, at } of aliases) {
    if (!isAlias(node)) continue;
    const target = node.resolve(doc as Document.Parsed);
    const base = target ? paths.get(target) : undefined;
    if (!base) continue;
    for (const s of slots) {
      if (s.path.length >= base.length && base.every((seg, i) => s.path[i] === seg))
        s.aliasPaths.push([...at, ...s.path.slice(base.length)]);
    }
  }

  return {
    format: 'yaml',
    slots,
    header,
    insertHeader(token) {
      if (!isMap(root) || root.flow || !root.range || lineCol(text, root.range[0]).col !== 1) {
        throw usageError(
          `${name}: the kms-envelope header needs a block mapping at the top of the file (key: value lines starting in column 1).`,
          'Seal the values of YAML files whose top level is a mapping, or seal the whole file instead.',
        );
      }
      if (/^\.\.\.[ \t]*\r?$/m.test(text)) {
        throw usageError(
          `${name}: the file ends its YAML document with "..."; the header cannot be added after it.`,
          'Remove the "..." line.',
        );
      }
      return appendLine(text, `${HEADER_KEY}: ${token}`);
    },
  };
}

function headerOf(text: string, name: string, key: unknown, value: unknown): HeaderSlot {
  if (!isScalar(value) || typeof value.value !== 'string' || !value.range || !isScalar(key) || !key.range) {
    const at = isScalar(key) && key.range ? lineCol(text, key.range[0]).line : undefined;
    throw formatError(
      `${name}${at ? `:${at}` : ''}: the top-level key "${HEADER_KEY}" is reserved for the sealed-values header, and this one holds no header.`,
      `Rename that key, or restore the header line the file was sealed with.`,
    );
  }
  return { token: value.value, start: value.range[0], end: value.range[1], remove: removeLine(text, key.range[0], value.range[1]) };
}
