/**
 * The local provider's data-key wrapping, byte for byte what the AWS Encryption SDK's stock
 * `RawAesKeyringNode` does (AES-256-GCM, 12-byte IV, 16-byte tag, AAD = the serialized encryption
 * context), so a local blob opens with the stock keyring given the key material:
 *
 *   keyNamespace (EDK providerId)   "local"
 *   keyName                         the local key id, e.g. "local-3f2c…"
 *   EDK providerInfo                keyName ‖ uint32BE(128) ‖ uint32BE(12) ‖ iv(12)
 *   EDK encryptedDataKey            AES-GCM ciphertext of the data key ‖ tag(16)
 *
 * The provider interface carries one opaque ciphertext; ours is the EDK without the key name:
 *
 *   ciphertext = uint32BE(128) ‖ uint32BE(12) ‖ iv(12) ‖ wrapped data key ‖ tag(16)
 *
 * so `edkFromCiphertext` / `ciphertextFromEdk` convert between the two without any cryptography.
 *
 * Why not import @aws-crypto/serialize for the AAD: it is only a transitive dependency, and the
 * encoding is 10 lines. test/unit/local-wire.test.ts pins it against the stock keyring both ways.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionContext } from '../types';

export const LOCAL_KEY_NAMESPACE = 'local';
export const TAG_BITS = 128;
export const IV_LENGTH = 12;
const TAG_LENGTH = TAG_BITS / 8;
const PREFIX_LENGTH = 8 + IV_LENGTH;

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/**
 * The encryption context as the Encryption SDK serializes it into the header, minus the leading
 * 2-byte length (what RawAesKeyringNode uses as AAD): count ‖ (len ‖ key ‖ len ‖ value)*, entries
 * ordered by `localeCompare` of the keys (the SDK's default, `utf8Sorting: false`); an empty
 * context is zero bytes.
 */
export function contextAad(context: EncryptionContext): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [u16(entries.length)];
  for (const [k, v] of entries) {
    const kb = Buffer.from(k, 'utf8');
    const vb = Buffer.from(v, 'utf8');
    parts.push(u16(kb.length), kb, u16(vb.length), vb);
  }
  return Buffer.concat(parts);
}

export function wrap(material: Buffer, plaintext: Buffer, context: EncryptionContext): Buffer {
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', material, iv).setAAD(contextAad(context));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(TAG_BITS, 0);
  head.writeUInt32BE(IV_LENGTH, 4);
  return Buffer.concat([head, iv, ct, cipher.getAuthTag()]);
}

/** Returns undefined when the ciphertext is malformed or does not authenticate (wrong key/context, tampered). */
export function unwrap(material: Buffer, ciphertext: Buffer, context: EncryptionContext): Buffer | undefined {
  if (ciphertext.length < PREFIX_LENGTH + TAG_LENGTH) return undefined;
  if (ciphertext.readUInt32BE(0) !== TAG_BITS || ciphertext.readUInt32BE(4) !== IV_LENGTH) return undefined;
  const iv = ciphertext.subarray(8, PREFIX_LENGTH);
  const body = ciphertext.subarray(PREFIX_LENGTH, ciphertext.length - TAG_LENGTH);
  const tag = ciphertext.subarray(ciphertext.length - TAG_LENGTH);
  try {
    const d = createDecipheriv('aes-256-gcm', material, iv).setAAD(contextAad(context)).setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]);
  } catch {
    return undefined;
  }
}

/** Our opaque ciphertext → the stock keyring's EDK fields. */
export function edkFromCiphertext(keyName: string, ciphertext: Buffer): { providerId: string; rawInfo: Buffer; encryptedDataKey: Buffer } {
  return {
    providerId: LOCAL_KEY_NAMESPACE,
    rawInfo: Buffer.concat([Buffer.from(keyName, 'utf8'), ciphertext.subarray(0, PREFIX_LENGTH)]),
    encryptedDataKey: Buffer.from(ciphertext.subarray(PREFIX_LENGTH)),
  };
}

/**
 * A stock raw-AES EDK → our opaque ciphertext and the key name it names.
 * providerInfo is keyName ‖ 20 bytes, so the key name is everything but the last 20 bytes.
 */
export function ciphertextFromEdk(rawInfo: Uint8Array, encryptedDataKey: Uint8Array): { keyName: string; ciphertext: Buffer } {
  const info = Buffer.from(rawInfo);
  if (info.length <= PREFIX_LENGTH) throw new Error('providerInfo too short for a raw AES key');
  return {
    keyName: info.subarray(0, info.length - PREFIX_LENGTH).toString('utf8'),
    ciphertext: Buffer.concat([info.subarray(info.length - PREFIX_LENGTH), Buffer.from(encryptedDataKey)]),
  };
}
