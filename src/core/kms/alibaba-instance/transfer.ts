/**
 * What makes a blob independent of the gateway that sealed it (PROTOCOLS-alibaba-instance.md §7,
 * §9, D1): the TransferClient's mapping between the instance gateway's Advance* ciphertext and
 * the KMS 1.0 (public gateway) CiphertextBlob, and the EncryptionContext → Aad rule.
 *
 *   Advance blob:   0x24 | (version<<4 | padding) | algorithm (0x02 = AES-GCM) | keyVersionId (36) | IV (12) | ciphertext‖tag
 *   KMS 1.0 blob:                                                               keyVersionId (36) | IV (12) | ciphertext‖tag
 *
 * The recipient written into a sealed blob keeps the public gateway's form: providerId
 * `alibaba-kms`, providerInfo `<region>/<keyId>`, and as encrypted data key the UTF-8 bytes of the
 * base64 KMS 1.0 blob, exactly what the public gateway's Encrypt returns for a key of an instance.
 *
 * Aad (Go and Java SDKs; the Python SDK differs, see D1): no EncryptionContext → no Aad; else the
 * 32 raw bytes of SHA-256 over `k1=v1&k2=v2…`, keys sorted by byte order.
 */
import { createHash } from 'node:crypto';
import type { EncryptionContext } from '../types';

export const ADVANCE_MAGIC = 0x24;
export const ADVANCE_ALGORITHM_AES_GCM = 0x02;
export const KEY_VERSION_ID_LENGTH = 36;
export const GCM_IV_LENGTH = 12;
const ADVANCE_PREFIX_LENGTH = 3;
/** Key version + IV + a 16-byte tag: nothing shorter can be a blob (Go refuses < 48, Python ≤ 48). */
const MIN_KMS1_LENGTH = KEY_VERSION_ID_LENGTH + GCM_IV_LENGTH + 16;

/** Aad for an EncryptionContext, or undefined when there is none. */
export function encryptionContextAad(ctx: EncryptionContext | undefined): Buffer | undefined {
  if (!ctx) return undefined;
  const keys = Object.keys(ctx);
  if (keys.length === 0) return undefined;
  keys.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  const text = keys.map((k) => `${k}=${ctx[k]}`).join('&');
  return createHash('sha256').update(text, 'utf8').digest();
}

/** AdvanceEncrypt's CiphertextBlob → the KMS 1.0 blob (its first three bytes dropped); undefined if it is not one. */
export function advanceToKms1(advance: Buffer): Buffer | undefined {
  if (advance.length < ADVANCE_PREFIX_LENGTH + MIN_KMS1_LENGTH || advance[0] !== ADVANCE_MAGIC) return undefined;
  return advance.subarray(ADVANCE_PREFIX_LENGTH);
}

export interface SplitKms1Blob {
  keyVersionId: string;
  iv: Buffer;
  /** The blob AdvanceDecrypt takes: `24 00 02` ‖ the KMS 1.0 blob. */
  advance: Buffer;
}

/** Splits a KMS 1.0 blob of an instance key; undefined when it cannot be one. */
export function splitKms1Blob(blob: Buffer): SplitKms1Blob | undefined {
  if (blob.length < MIN_KMS1_LENGTH) return undefined;
  const keyVersionId = blob.subarray(0, KEY_VERSION_ID_LENGTH).toString('latin1');
  if (!/^[0-9A-Za-z-]{36}$/.test(keyVersionId)) return undefined;
  return {
    keyVersionId,
    iv: blob.subarray(KEY_VERSION_ID_LENGTH, KEY_VERSION_ID_LENGTH + GCM_IV_LENGTH),
    advance: Buffer.concat([Buffer.from([ADVANCE_MAGIC, 0x00, ADVANCE_ALGORITHM_AES_GCM]), blob]),
  };
}
