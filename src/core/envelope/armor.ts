/**
 * Armored text form: `kmsenv:v1:` + standard base64 (RFC 4648 §4, with `=` padding) of the binary
 * message, on one line.
 *
 * Why this prefix: it is short and greppable (`grep -o 'kmsenv:v1:[A-Za-z0-9+/=]*'`); `:` never
 * occurs in base64, so the prefix cannot be part of a base64 run and the blob's start is unambiguous;
 * it is a valid plain scalar in YAML (no `: ` / `#`), a valid .env value and needs no escaping in
 * JSON or shell. `v1` versions the armor itself (the payload carries its own format version).
 * Every blob made here begins `kmsenv:v1:AgR4` (bytes 02 04 78: format v2, suite 0x0478).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { FORMAT_HINTS, formatError } from '../errors';
import { displayPath } from '../paths';
import { ARMOR_PREFIX } from './magic';

export { ARMOR_PREFIX, isSealed } from './magic';

const B64_BODY = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const FIND = /kmsenv:v1:((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)/g;

export function armor(blob: Uint8Array): string {
  return ARMOR_PREFIX + Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).toString('base64');
}

/** Accepts surrounding whitespace; anything else that is not one armored blob is a format error. */
export function dearmor(text: string): Buffer {
  const t = text.trim();
  if (!t.startsWith(ARMOR_PREFIX)) {
    const shown = t.length > 24 ? `${t.slice(0, 24)}…` : t;
    throw formatError(
      `not an armored KMS Envelope blob: expected text starting with "${ARMOR_PREFIX}", found "${shown}"`,
      FORMAT_HINTS.notBlob,
    );
  }
  const body = t.slice(ARMOR_PREFIX.length);
  if (body.length === 0) throw formatError('armored blob is empty after the prefix', FORMAT_HINTS.truncated);
  if (!B64_BODY.test(body)) {
    const bad = body.search(/[^A-Za-z0-9+/=]/);
    throw formatError(
      bad >= 0
        ? `armored blob is not valid base64: unexpected character ${JSON.stringify(body[bad])} at position ${ARMOR_PREFIX.length + bad}`
        : `armored blob is not valid base64: ${body.length % 4 ? 'its length is not a multiple of 4 (cut short?)' : 'misplaced "=" padding'}`,
      bad >= 0 || body.length % 4 === 0 ? FORMAT_HINTS.modified : FORMAT_HINTS.truncated,
    );
  }
  return Buffer.from(body, 'base64');
}

/** Armored blobs embedded in arbitrary text (YAML/JSON/.env values, quoted or not). */
export function findArmored(text: string): Array<{ start: number; end: number; text: string }> {
  const out: Array<{ start: number; end: number; text: string }> = [];
  for (const m of text.matchAll(FIND)) {
    if (!m[1]) continue;
    out.push({ start: m.index!, end: m.index! + m[0].length, text: m[0] });
  }
  return out;
}

/** Binary in → `kmsenv:v1:` + base64 + "\n" out, streaming (the same text as armor() + "\n"). */
export function armorEncoder(): Transform {
  let carry = Buffer.alloc(0);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const all = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const usable = all.length - (all.length % 3);
      carry = Buffer.from(all.subarray(usable));
      const out = all.subarray(0, usable).toString('base64');
      cb(null, started ? out : ((started = true), ARMOR_PREFIX + out));
    },
    flush(cb: TransformCallback) {
      cb(null, (started ? '' : ARMOR_PREFIX) + carry.toString('base64') + '\n');
    },
  });
}

const B64 = /^[A-Za-z0-9+/]*$/;

/**
 * Armored text in → binary out, streaming (accepts what dearmor() accepts, in any size). A UTF-8
 * BOM and whitespace may come before the prefix, whitespace after the base64; anything else is a
 * format error naming `label` (a file name, or "stdin") and the position.
 */
export function armorDecoder(label: string): Transform {
  let state: 'prefix' | 'body' | 'padding' | 'tail' = 'prefix';
  let pre = '';
  let carry = '';
  let pos = 0; // characters consumed, for messages
  let sawBody = false;
  const bad = (what: string) =>
    formatError(
      `${displayPath(label)} is not a valid armored blob: ${what}.`,
      'An armored blob is one line: kmsenv:v1: followed by base64. Check that it was copied whole.',
      { file: label },
    );
  const step = (text: string, out: Buffer[]): string => {
    if (state === 'prefix') {
      pre += text;
      const trimmed = pre.replace(/^(\xef\xbb\xbf)?\s*/, '');
      if (trimmed.length < ARMOR_PREFIX.length) {
        if (!ARMOR_PREFIX.startsWith(trimmed)) throw bad(`expected "${ARMOR_PREFIX}" at the start`);
        return '';
      }
      if (!trimmed.startsWith(ARMOR_PREFIX)) throw bad(`expected "${ARMOR_PREFIX}" at the start`);
      pos = pre.length - trimmed.length + ARMOR_PREFIX.length;
      state = 'body';
      return trimmed.slice(ARMOR_PREFIX.length);
    }
    if (state === 'body') {
      const m = /[^A-Za-z0-9+/]/.exec(text);
      const body = m ? text.slice(0, m.index) : text;
      carry += body;
      pos += body.length;
      if (body.length) sawBody = true;
      const usable = carry.length - (carry.length % 4);
      if (usable) {
        out.push(Buffer.from(carry.slice(0, usable), 'base64'));
        carry = carry.slice(usable);
      }
      if (!m) return '';
      state = text[m.index] === '=' ? 'padding' : 'tail';
      return text.slice(m.index);
    }
    if (state === 'padding') {
      if (text[0] !== '=') {
        state = 'tail';
        return text;
      }
      carry += '=';
      pos++;
      if (carry.length > 4 || carry.length % 4 === 1) throw bad(`misplaced "=" padding at position ${pos}`);
      return text.slice(1);
    }
    // tail: only whitespace allowed
    const m = /\S/.exec(text);
    if (m) throw bad(`unexpected character ${JSON.stringify(text[m.index])} at position ${pos + m.index}`);
    pos += text.length;
    return '';
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        const out: Buffer[] = [];
        for (let text = chunk.toString('latin1'); text.length;) text = step(text, out);
        cb(null, out.length ? Buffer.concat(out) : undefined);
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      if (state === 'prefix') return cb(bad(`expected "${ARMOR_PREFIX}" at the start`));
      if (!sawBody) return cb(bad('it is empty after the prefix'));
      if (carry.length % 4 !== 0) return cb(bad('its length is not a multiple of 4 (cut short?)'));
      if (carry.length && !B64.test(carry.replace(/=+$/, ''))) return cb(bad('misplaced "=" padding'));
      cb(null, carry.length ? Buffer.from(carry, 'base64') : undefined);
    },
  });
}
