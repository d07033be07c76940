/**
 * The checks every KMS client makes around the data-key calls, in one wording: the sizes Encrypt
 * takes here, a GenerateDataKey answer without a 32-byte data key, a Decrypt answer naming another
 * key than the blob does (its plaintext zeroed first).
 */
import { formatError, usageError, type ErrorDetails } from '../errors';

/** Data keys Encrypt is used for here: 1 to 4096 bytes (the smallest of the clouds' limits). */
export const MAX_DATA_KEY_BYTES = 4096;

/** A usage error unless `plaintext` is 1 to 4096 bytes. `who`: "Tencent Cloud KMS", "A KMS 3.0 instance". */
export function checkDataKeySize(who: string, plaintext: Buffer, details: ErrorDetails): void {
  if (plaintext.length === 0 || plaintext.length > MAX_DATA_KEY_BYTES) {
    throw usageError(`${who} encrypts data keys of 1 to ${MAX_DATA_KEY_BYTES} bytes here, not ${plaintext.length}.`, undefined, details);
  }
}

/** Throws (zeroing `plaintext`) unless GenerateDataKey gave a 32-byte data key with its ciphertext. */
export function checkGenerated(who: string, plaintext: Buffer, ciphertext: unknown, details: ErrorDetails & { region: string }): void {
  if (plaintext.length === 32 && ciphertext) return;
  plaintext.fill(0);
  throw formatError(
    `${who} GenerateDataKey with key ${details.keyId} in ${details.region} returned no 32-byte data key.`,
    `Check the endpoint: it did not answer like ${who}.`,
    details,
  );
}

/**
 * Throws (zeroing `plaintext`) when Decrypt says it used another key than the one the blob names
 * (only a key id is compared: an alias or ARN in the blob names no one id).
 */
export function checkDecryptedBy(
  who: string,
  named: { keyId: string; isKeyId: RegExp },
  usedKeyId: string | undefined,
  plaintext: Buffer,
  details: ErrorDetails & { region: string },
): void {
  const { keyId, isKeyId } = named;
  if (!keyId || !isKeyId.test(keyId) || !usedKeyId || usedKeyId === keyId) return;
  plaintext.fill(0);
  throw formatError(
    `${who} decrypted the data key with key ${usedKeyId}, but the blob names key ${keyId} in ${details.region}.`,
    'The blob was altered or built by another tool; do not trust it.',
    details,
  );
}
