/**
 * What a sealed input holds, found by reading it: one binary message, one armored message (decoded
 * as it streams, any size), or armored values inside other text (a YAML / JSON / .env file), each
 * with where it is. Front doors call these instead of looking at magic bytes themselves.
 *
 * Text is scanned as it streams, so a large config file with one value is found whatever its size;
 * only the values themselves are held (at most MAX_EMBEDDED_TEXT characters in all).
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FORMAT_HINTS, formatError } from '../errors';
import { displayPath } from '../paths';
import { armorDecoder } from './armor';
import { ARMOR_PREFIX, SNIFF_BYTES, sniffHead, type HeadKind } from './magic';

/** Armored text held in all while scanning a text for values. */
export const MAX_EMBEDDED_TEXT = 64 * 1024 * 1024;

/** Reads at least `n` bytes (or to EOF) and returns them with a stream that replays them first. */
export async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const chunks: Buffer[] = [];
  let got = 0;
  let done = false;
  while (got < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    chunks.push(b);
    got += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    }
  }
  const stream = Readable.from(replay(), { objectMode: false, highWaterMark: 1 << 20 });
  stream.on('close', () => {
    if (!input.destroyed) input.destroy();
  });
  return { head, stream };
}

/** What an open file starts with (read at offset 0; the file position is kept). */
export async function sniffFile(fh: FileHandle): Promise<HeadKind> {
  const head = Buffer.alloc(SNIFF_BYTES);
  const { bytesRead } = await fh.read(head, 0, head.length, 0);
  return sniffHead(head.subarray(0, bytesRead));
}

/** One armored value found in a text. */
export interface ArmoredValue {
  /** Byte offset of the value (its prefix) in the input, and of the byte after it. */
  offset: number;
  end: number;
  /** 1-based line of the value, and 1-based column in bytes. */
  line: number;
  column: number;
  /** The armored text, `kmsenv:v1:` included (dearmor() gives the message). */
  text: string;
}

const isValueChar = (c: number) =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x3d;

/**
 * How much of `body` (the run of base64 and "=" after a prefix) is the value: whole 4-character
 * groups, then "xx==" or "xxx=" padding if present. The same as findArmored()'s regular expression,
 * without running one over megabytes.
 */
function valueLength(body: string): number {
  const eq = body.indexOf('=');
  const b64 = eq < 0 ? body.length : eq;
  const whole = b64 - (b64 % 4);
  if (b64 % 4 === 2 && body.startsWith('==', b64)) return b64 + 2;
  if (b64 % 4 === 3 && body[b64] === '=') return b64 + 1;
  return whole;
}

interface OpenValue {
  offset: number;
  line: number;
  column: number;
  pieces: string[];
  length: number;
}

/**
 * Every armored value in a text of any size, in order, with offsets and lines: the same values
 * findArmored() finds in the whole text, without holding the text. A UTF-8 text is scanned as bytes
 * (the prefix and base64 are ASCII, which never occurs inside a multi-byte character).
 */
export async function scanArmored(source: AsyncIterable<Buffer | Uint8Array | string>, label = 'the input'): Promise<ArmoredValue[]> {
  const values: ArmoredValue[] = [];
  let held = 0;
  // Input not searched yet, from byte `at` on, one character per byte (latin1).
  let text = '';
  let at = 0;
  let line = 1;
  let lineStart = 0;
  let value: OpenValue | undefined;
  const drop = (n: number) => {
    for (let i = text.indexOf('\n'); i >= 0 && i < n; i = text.indexOf('\n', i + 1)) {
      line++;
      lineStart = at + i + 1;
    }
    text = text.slice(n);
    at += n;
  };
  /** The value's run ended before `rest`: record it, and search on from its end. */
  const finish = (v: OpenValue, rest: string) => {
    const body = v.pieces.join('');
    const n = valueLength(body);
    if (n > 0) {
      values.push({
        offset: v.offset,
        end: v.offset + ARMOR_PREFIX.length + n,
        line: v.line,
        column: v.column,
        text: ARMOR_PREFIX + body.slice(0, n),
      });
      held += ARMOR_PREFIX.length + n;
    }
    at = v.offset + ARMOR_PREFIX.length + n;
    text = body.slice(n) + rest;
    value = undefined;
  };
  const scan = (final: boolean) => {
    for (;;) {
      if (value) {
        let j = 0;
        while (j < text.length && isValueChar(text.charCodeAt(j))) j++;
        value.pieces.push(text.slice(0, j));
        value.length += j;
        if (held + value.length > MAX_EMBEDDED_TEXT)
          throw formatError(
            `${displayPath(label)}: the armored value on line ${value.line} is too large to unseal from inside a text (over ${MAX_EMBEDDED_TEXT / 1024 / 1024} MiB).`,
            'Put a large sealed value in a file of its own (sealing with armor writes one), and unseal that file.',
            { file: label },
          );
        if (j === text.length && !final) {
          text = '';
          return; // the value may go on in the next chunk
        }
        finish(value, text.slice(j));
        continue;
      }
      const i = text.indexOf(ARMOR_PREFIX);
      if (i < 0) return drop(final ? text.length : Math.max(0, text.length - (ARMOR_PREFIX.length - 1)));
      drop(i);
      value = { offset: at, line, column: at - lineStart + 1, pieces: [], length: 0 };
      text = text.slice(ARMOR_PREFIX.length);
    }
  };
  for await (const c of source) {
    text +=
      typeof c === 'string'
        ? Buffer.from(c, 'utf8').toString('latin1')
        : Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('latin1');
    scan(false);
  }
  scan(true);
  return values;
}

/** What a sealed input holds. */
export type SealedInput =
  /** The whole input is one message: `stream` yields its binary form (armor decoded as it streams). */
  | { kind: 'message'; form: 'binary' | 'armored'; stream: Readable }
  /** A text with armored values inside (at least one). */
  | { kind: 'values'; values: ArmoredValue[] };

const hexHead = (b: Buffer) => [...b.subarray(0, 4)].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/**
 * Sniffs `input` (`label` names it in errors: a file name or "stdin"). An empty input, or one that
 * is neither a message nor a text holding an armored value, is a format error.
 */
export async function openSealedInput(input: Readable, label: string): Promise<SealedInput> {
  const { head, stream } = await peek(input, SNIFF_BYTES);
  const kind = sniffHead(head);
  const name = displayPath(label);
  if (kind === 'empty') throw formatError(`${name} is empty, not a sealed blob.`, 'Give the sealed file itself.', { file: label });
  if (kind === 'binary') return { kind: 'message', form: 'binary', stream };
  if (kind === 'armored') {
    const dec = armorDecoder(label);
    pipeline(stream, dec).catch(() => undefined);
    return { kind: 'message', form: 'armored', stream: dec };
  }
  const values = await scanArmored(stream, label);
  if (values.length === 0)
    throw formatError(
      `${name} is not a KMS Envelope blob: it starts with bytes ${hexHead(head)}, neither a sealed header (02 04 78) nor "${ARMOR_PREFIX}" armor, and holds no armored value.`,
      FORMAT_HINTS.notBlob,
      { file: label },
    );
  return { kind: 'values', values };
}
