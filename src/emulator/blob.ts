/**
 * The emulator's CiphertextBlob: real AES-256-GCM under the key's own material, self-describing.
 *
 *   "EKM1" | cloud (1 byte) | len+keyId | len+region | len+accountId | iv (12) | tag (16) | ciphertext
 *
 * The AAD is the header (magic through account id) followed by "\n" and the canonical encryption
 * context (JSON with sorted keys, "" when empty), so key, region, account and context are all
 * authenticated: a blob from another region or account, a changed header or a different context
 * fails the GCM tag check. The whole blob is base64 on the wire, like the clouds' own blobs.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Cloud } from './state';

const MAGIC = Buffer.from('EKM1', 'ascii');
const CLOUD_BYTE: Record<Cloud, number> = { tencent: 1, alibaba: 2, aws: 3 };

export interface BlobHeader {
  cloud: Cloud;
  keyId: string;
  region: string;
  accountId: string;
}

/** Canonical form of an encryption context: JSON with sorted keys, or "" when empty. */
export function canonicalContext(ctx: Record<string, string> | undefined): string {
  if (!ctx) return '';
  const keys = Object.keys(ctx).sort();
  if (keys.length === 0) return '';
  const sorted: Record<string, string> = {};
  for (const k of keys) sorted[k] = ctx[k];
  return JSON.stringify(sorted);
}

function encodeHeader(h: BlobHeader): Buffer {
  const parts: Buffer[] = [MAGIC, Buffer.from([CLOUD_BYTE[h.cloud]])];
  for (const s of [h.keyId, h.region, h.accountId]) {
    const b = Buffer.from(s, 'utf8');
    if (b.length > 255) throw new Error('blob header field too long');
    parts.push(Buffer.from([b.length]), b);
  }
  return Buffer.concat(parts);
}

export function sealBlob(h: BlobHeader, material: Buffer, context: string, plaintext: Buffer): string {
  const header = encodeHeader(h);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', material, iv);
  c.setAAD(Buffer.concat([header, Buffer.from('\n' + context, 'utf8')]));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([header, iv, c.getAuthTag(), ct]).toString('base64');
}

export interface ParsedBlob extends BlobHeader {
  header: Buffer;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Reads the header of a blob; undefined when it is not an emulator blob at all. */
export function parseBlob(b64: string): ParsedBlob | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  const buf = Buffer.from(b64, 'base64');
  if (buf.length < MAGIC.length + 1 + 3 + 12 + 16 || !buf.subarray(0, 4).equals(MAGIC)) return undefined;
  const cloud = (Object.keys(CLOUD_BYTE) as Cloud[]).find((c) => CLOUD_BYTE[c] === buf[4]);
  if (!cloud) return undefined;
  let off = 5;
  const fields: string[] = [];
  for (let i = 0; i < 3; i++) {
    const len = buf[off];
    if (len === undefined || off + 1 + len > buf.length) return undefined;
    fields.push(buf.subarray(off + 1, off + 1 + len).toString('utf8'));
    off += 1 + len;
  }
  if (buf.length < off + 28) return undefined;
  return {
    cloud,
    keyId: fields[0],
    region: fields[1],
    accountId: fields[2],
    header: buf.subarray(0, off),
    iv: buf.subarray(off, off + 12),
    tag: buf.subarray(off + 12, off + 28),
    ciphertext: buf.subarray(off + 28),
  };
}

/** Decrypts a parsed blob; undefined when authentication fails (wrong key, context or a changed byte). */
export function openBlob(p: ParsedBlob, material: Buffer, context: string): Buffer | undefined {
  try {
    const d = createDecipheriv('aes-256-gcm', material, p.iv);
    d.setAAD(Buffer.concat([p.header, Buffer.from('\n' + context, 'utf8')]));
    d.setAuthTag(p.tag);
    return Buffer.concat([d.update(p.ciphertext), d.final()]);
  } catch {
    return undefined;
  }
}
