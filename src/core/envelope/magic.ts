/**
 * What the first bytes of a sealed input look like: a binary Encryption SDK message, or the armored
 * text form (`kmsenv:v1:` + base64, see armor.ts). No imports, so the editor and the CLI can sniff a
 * file without loading the Encryption SDK.
 */

/** The armored text form's prefix (versioned; see armor.ts for why this shape). */
export const ARMOR_PREFIX = 'kmsenv:v1:';

/** A binary ESDK message: v2 with suite 0x0478 or 0x0578, or a v1 message (refused later, but named). */
export function isBinaryHead(b: Uint8Array): boolean {
  return (
    (b.length >= 3 && b[0] === 0x02 && (b[1] === 0x04 || b[1] === 0x05) && b[2] === 0x78) ||
    (b.length >= 2 && b[0] === 0x01 && b[1] === 0x80)
  );
}

/** Bytes looked at to tell armored text from other text: the prefix after a BOM and leading whitespace. */
export const SNIFF_BYTES = 4096;

/** Armored text at the start: the whole prefix, after an optional UTF-8 BOM and whitespace. */
export function isArmoredHead(head: Uint8Array): boolean {
  let b = Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, SNIFF_BYTES));
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
  return b.toString('latin1').trimStart().startsWith(ARMOR_PREFIX);
}

/** What an input is, from its first bytes: 'binary', 'armored', 'other' (anything else) or 'empty'. */
export type HeadKind = 'binary' | 'armored' | 'other' | 'empty';

export function sniffHead(head: Uint8Array): HeadKind {
  if (head.length === 0) return 'empty';
  if (isBinaryHead(head)) return 'binary';
  if (isArmoredHead(head)) return 'armored';
  return 'other';
}

/** Sniffs the first bytes: a binary ESDK message (v2 suite 0x0478/0x0578, or v1) or armored text. */
export function isSealed(firstBytes: Uint8Array): boolean {
  const kind = sniffHead(firstBytes);
  return kind === 'binary' || kind === 'armored';
}
