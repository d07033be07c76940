/**
 * Ciphertexts of keys that live in an emulated KMS 3.0 instance, in the layouts the real gateways
 * use (PROTOCOLS-alibaba-instance.md §7), shared by the instance gateway and the public Alibaba
 * gateway of the emulator so a ciphertext made by one opens through the other:
 *
 *   low-level Encrypt:   CiphertextBlob = ciphertext‖tag, Iv separate, key version in a header
 *   AdvanceEncrypt:      0x24 0x00 0x02 | keyVersionId (36 ASCII) | IV (12) | ciphertext‖tag
 *   public gateway:      keyVersionId (36) | IV (12) | ciphertext‖tag, base64 (the KMS 1.0 form)
 *
 * AES-256-GCM under the key's material; the GCM AAD is the request's Aad bytes (none when absent).
 * The public gateway turns an EncryptionContext into Aad as the Go and Java SDKs do: SHA-256 over
 * `k1=v1&k2=v2…` with keys sorted by byte order (no context: no Aad).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { StoredKey } from './state';

export const ADVANCE_PREFIX = Buffer.from([0x24, 0x00, 0x02]);
const VERSION_LEN = 36;
const IV_LEN = 12;
const TAG_LEN = 16;

export function contextAad(ctx: Record<string, string> | undefined): Buffer | undefined {
  if (!ctx) return undefined;
  const keys = Object.keys(ctx).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (keys.length === 0) return undefined;
  return createHash('sha256')
    .update(keys.map((k) => `${k}=${ctx[k]}`).join('&'))
    .digest();
}

/** AES-256-GCM under the key; a fresh IV unless one is given. Returns the IV and ciphertext‖tag. */
export function gcmSeal(k: StoredKey, plaintext: Buffer, aad?: Buffer, iv: Buffer = randomBytes(IV_LEN)): { iv: Buffer; sealed: Buffer } {
  const c = createCipheriv('aes-256-gcm', Buffer.from(k.material, 'base64'), iv);
  if (aad && aad.length) c.setAAD(aad);
  const sealed = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return { iv, sealed };
}

/** Opens ciphertext‖tag; undefined when authentication fails (other key, Aad or IV, a changed byte). */
export function gcmOpen(k: StoredKey, iv: Buffer, sealed: Buffer, aad?: Buffer): Buffer | undefined {
  if (iv.length !== IV_LEN || sealed.length < TAG_LEN) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', Buffer.from(k.material, 'base64'), iv);
    if (aad && aad.length) d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG_LEN)), d.final()]);
  } catch {
    return undefined;
  }
}

export interface Kms1Blob {
  versionId: string;
  iv: Buffer;
  sealed: Buffer;
}

export function kms1Blob(versionId: string, iv: Buffer, sealed: Buffer): Buffer {
  return Buffer.concat([Buffer.from(versionId, 'latin1'), iv, sealed]);
}

export function parseKms1Blob(b: Buffer): Kms1Blob | undefined {
  if (b.length < VERSION_LEN + IV_LEN + TAG_LEN) return undefined;
  const versionId = b.subarray(0, VERSION_LEN).toString('latin1');
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(versionId)) return undefined;
  return { versionId, iv: b.subarray(VERSION_LEN, VERSION_LEN + IV_LEN), sealed: b.subarray(VERSION_LEN + IV_LEN) };
}

export function advanceBlob(versionId: string, iv: Buffer, sealed: Buffer): Buffer {
  return Buffer.concat([ADVANCE_PREFIX, kms1Blob(versionId, iv, sealed)]);
}

export function parseAdvanceBlob(b: Buffer): Kms1Blob | undefined {
  if (b.length < ADVANCE_PREFIX.length || !b.subarray(0, ADVANCE_PREFIX.length).equals(ADVANCE_PREFIX)) return undefined;
  return parseKms1Blob(b.subarray(ADVANCE_PREFIX.length));
}
