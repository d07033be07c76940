/**
 * The data-key calls' shared parts, so every client says the same thing the same way:
 * - the checks around them: the sizes Encrypt takes here, a GenerateDataKey answer without a
 *   32-byte data key, a Decrypt answer naming another key than the blob does (its plaintext zeroed);
 * - GenerateDataKey / Encrypt / Decrypt of the JSON APIs of Tencent Cloud KMS and Alibaba Cloud KMS,
 *   which take the same actions and fields: KeyId, KeySpec AES_256, the canonical EncryptionContext,
 *   the plaintext in base64 both ways, CiphertextBlob kept verbatim (its UTF-8 bytes are the EDK).
 */
import { formatError, usageError, type ErrorDetails } from '../errors';
import { canonicalContext } from './wire-values';
import type { DataKey, EncryptionContext } from './types';

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

/** How a JSON-API client sends one action (its `call`, through cloudCall). */
export type JsonCall = <T>(
  region: string,
  action: string,
  params: Record<string, string | number | undefined>,
  o: { idempotent: boolean; keyId?: string; signal?: AbortSignal },
) => Promise<T>;

export interface JsonDataKeyApi {
  /** "Tencent Cloud KMS" (the descriptor's label). */
  who: string;
  provider: string;
  call: JsonCall;
  /** What the KeyId parameter gets for a key id or alias (Tencent resolves aliases first). */
  keyParam(region: string, keyIdOrAlias: string, signal?: AbortSignal): Promise<string>;
  /** What a key id looks like (Decrypt's answer is compared only with a key id). */
  keyId: RegExp;
}

/** The three data-key calls of a Tencent- or Alibaba-style JSON API. */
export function jsonDataKeys(api: JsonDataKeyApi) {
  const details = (region: string, keyId: string) => ({ provider: api.provider, region, keyId });
  return {
    async generate(region: string, keyIdOrAlias: string, context: EncryptionContext, signal?: AbortSignal): Promise<DataKey> {
      const id = await api.keyParam(region, keyIdOrAlias, signal);
      const res = await api.call<{ KeyId: string; Plaintext: string; CiphertextBlob: string }>(
        region,
        'GenerateDataKey',
        { KeyId: id, KeySpec: 'AES_256', EncryptionContext: canonicalContext(context) },
        { idempotent: true, keyId: keyIdOrAlias, signal },
      );
      const plaintext = Buffer.from(res.Plaintext ?? '', 'base64');
      checkGenerated(api.who, plaintext, res.CiphertextBlob, details(region, keyIdOrAlias));
      return { plaintext, ciphertext: Buffer.from(res.CiphertextBlob, 'utf8'), keyId: res.KeyId || id };
    },

    async encrypt(
      region: string,
      keyIdOrAlias: string,
      plaintext: Buffer,
      context: EncryptionContext,
      signal?: AbortSignal,
    ): Promise<{ ciphertext: Buffer; keyId: string }> {
      checkDataKeySize(api.who, plaintext, details(region, keyIdOrAlias));
      const id = await api.keyParam(region, keyIdOrAlias, signal);
      const res = await api.call<{ KeyId: string; CiphertextBlob: string }>(
        region,
        'Encrypt',
        // Alibaba takes Plaintext as an opaque string: the base64 of the data key goes in, the same string comes back.
        { KeyId: id, Plaintext: plaintext.toString('base64'), EncryptionContext: canonicalContext(context) },
        { idempotent: true, keyId: keyIdOrAlias, signal },
      );
      return { ciphertext: Buffer.from(res.CiphertextBlob, 'utf8'), keyId: res.KeyId || id };
    },

    async decrypt(
      region: string,
      keyId: string,
      ciphertext: Buffer,
      context: EncryptionContext,
      signal?: AbortSignal,
    ): Promise<{ plaintext: Buffer; keyId: string }> {
      const res = await api.call<{ KeyId: string; Plaintext: string }>(
        region,
        'Decrypt',
        { CiphertextBlob: ciphertext.toString('utf8'), EncryptionContext: canonicalContext(context) },
        { idempotent: true, keyId, signal },
      );
      const plaintext = Buffer.from(res.Plaintext ?? '', 'base64');
      checkDecryptedBy(api.who, { keyId, isKeyId: api.keyId }, res.KeyId, plaintext, details(region, keyId));
      return { plaintext, keyId: res.KeyId || keyId };
    },
  };
}
