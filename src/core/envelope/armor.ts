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
import { FORMAT_HINTS, formatError } from '../errors';

export const ARMOR_PREFIX = 'kmsenv:v1:';

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

/** Sniffs the first bytes: a binary ESDK message (v2 suite 0x0478/0x0578, or v1) or armored text. */
export function isSealed(firstBytes: Uint8Array): boolean {
  let b = Buffer.from(firstBytes.buffer, firstBytes.byteOffset, firstBytes.byteLength);
  if (b.length >= 3 && b[0] === 0x02 && (b[1] === 0x04 || b[1] === 0x05) && b[2] === 0x78) return true; // v2, 0x0478 / 0x0578
  if (b.length >= 2 && b[0] === 0x01 && b[1] === 0x80) return true; // v1 customer-AE data
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3); // UTF-8 BOM
  return b.subarray(0, 256).toString('latin1').trimStart().startsWith(ARMOR_PREFIX);
}
