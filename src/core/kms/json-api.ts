/**
 * What Tencent Cloud KMS (API 3.0) and Alibaba Cloud KMS (2016-01-20) have in common beyond the
 * cloud plumbing (./cloud-provider.ts): key actions that take just a KeyId (EnableKey, DisableKey,
 * CancelKeyDeletion), UpdateKeyDescription, and the three data-key calls, with the same names and fields: KeyId, KeySpec
 * AES_256, the canonical EncryptionContext, the plaintext in base64 both ways (Alibaba takes it as an
 * opaque string and hands the same string back), CiphertextBlob kept verbatim (its UTF-8 bytes are
 * the EDK). A provider says how it sends an action and what its KeyId parameter is.
 */
import type { CloudProviderOptions } from './cloud-call';
import { CloudProvider, type CallFlags } from './cloud-provider';
import { checkDataKeySize, checkDecryptedBy, checkGenerated } from './data-keys';
import type { CallOptions, DataKey, EncryptionContext } from './types';
import { canonicalContext } from './wire-values';

export abstract class JsonApiProvider<O extends CloudProviderOptions = CloudProviderOptions> extends CloudProvider<O> {
  /** What a key id looks like (a Decrypt answer is compared with the blob's key only when that is one). */
  protected abstract readonly keyIdPattern: RegExp;

  /** One action through cloudCall; parameters left undefined are not sent. */
  protected abstract call<T>(region: string, action: string, params: Record<string, string | number | undefined>, o: CallFlags): Promise<T>;

  /** What the KeyId parameter gets for a key id or alias (Tencent resolves an alias first). */
  protected abstract keyParam(region: string, keyIdOrAlias: string, signal?: AbortSignal): Promise<string>;

  /** An action that takes only the key. */
  private async keyAction(region: string, action: string, keyId: string, idempotent: boolean, signal?: AbortSignal): Promise<void> {
    const id = await this.keyParam(region, keyId, signal);
    await this.call(region, action, { KeyId: id }, { idempotent, keyId, signal });
  }

  enableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return this.keyAction(region, 'EnableKey', keyId, true, opts?.signal);
  }

  disableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return this.keyAction(region, 'DisableKey', keyId, true, opts?.signal);
  }

  cancelDeletion(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return this.keyAction(region, 'CancelKeyDeletion', keyId, false, opts?.signal);
  }

  async setDescription(region: string, keyId: string, description: string, opts?: CallOptions): Promise<void> {
    this.checkDescription(description, region, keyId);
    const id = await this.keyParam(region, keyId, opts?.signal);
    await this.call(
      region,
      'UpdateKeyDescription',
      { KeyId: id, Description: description },
      { idempotent: true, keyId, signal: opts?.signal },
    );
  }

  private details(region: string, keyId: string) {
    return { provider: this.name, region, keyId };
  }

  async generateDataKey(region: string, keyIdOrAlias: string, context: EncryptionContext, opts?: CallOptions): Promise<DataKey> {
    const id = await this.keyParam(region, keyIdOrAlias, opts?.signal);
    const res = await this.call<{ KeyId: string; Plaintext: string; CiphertextBlob: string }>(
      region,
      'GenerateDataKey',
      { KeyId: id, KeySpec: 'AES_256', EncryptionContext: canonicalContext(context) },
      { idempotent: true, keyId: keyIdOrAlias, signal: opts?.signal },
    );
    const plaintext = Buffer.from(res.Plaintext ?? '', 'base64');
    checkGenerated(this.descriptor.label, plaintext, res.CiphertextBlob, this.details(region, keyIdOrAlias));
    return { plaintext, ciphertext: Buffer.from(res.CiphertextBlob, 'utf8'), keyId: res.KeyId || id };
  }

  async encryptDataKey(
    region: string,
    keyIdOrAlias: string,
    plaintext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ ciphertext: Buffer; keyId: string }> {
    checkDataKeySize(this.descriptor.label, plaintext, this.details(region, keyIdOrAlias));
    const id = await this.keyParam(region, keyIdOrAlias, opts?.signal);
    const res = await this.call<{ KeyId: string; CiphertextBlob: string }>(
      region,
      'Encrypt',
      { KeyId: id, Plaintext: plaintext.toString('base64'), EncryptionContext: canonicalContext(context) },
      { idempotent: true, keyId: keyIdOrAlias, signal: opts?.signal },
    );
    return { ciphertext: Buffer.from(res.CiphertextBlob, 'utf8'), keyId: res.KeyId || id };
  }

  async decryptDataKey(
    region: string,
    keyId: string,
    ciphertext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ plaintext: Buffer; keyId: string }> {
    const res = await this.call<{ KeyId: string; Plaintext: string }>(
      region,
      'Decrypt',
      { CiphertextBlob: ciphertext.toString('utf8'), EncryptionContext: canonicalContext(context) },
      { idempotent: true, keyId, signal: opts?.signal },
    );
    const plaintext = Buffer.from(res.Plaintext ?? '', 'base64');
    checkDecryptedBy(this.descriptor.label, { keyId, isKeyId: this.keyIdPattern }, res.KeyId, plaintext, this.details(region, keyId));
    return { plaintext, keyId: res.KeyId || keyId };
  }
}
