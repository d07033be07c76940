/**
 * The keyrings of AWS recipients: the STOCK `KmsKeyringNode` of the AWS Encryption SDK, so every EDK
 * is exactly what any AWS Encryption SDK writes and reads (providerId `aws-kms`, providerInfo the
 * key ARN KMS returned, the message's whole encryption context sent to KMS — including the
 * `aws-crypto-public-key` of signed suites).
 *
 * The keyring's KMS client is the provider's `keyringClient` (GenerateDataKey / Encrypt / Decrypt
 * through cloudCall: the profile's credentials, retries, timeouts and error mapping of the house).
 * The stock keyring folds a failed Decrypt into a generic "Unable to decrypt data key" error;
 * the wrapper below hands on the provider's own error (message, hint, code) instead.
 */
import type { KMS } from '@aws-sdk/client-kms';
import { KmsKeyringNode } from '@aws-crypto/kms-keyring-node';
import {
  KeyringNode,
  type EncryptedDataKey,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
} from '@aws-crypto/material-management-node';
import { providerError } from '../../errors';
import type { CustomKeyrings } from '../descriptor';
import type { KmsProvider } from '../types';
import { awsKeyParam } from './arn';
import { AwsKmsProvider } from './index';

/** The stock keyring with its client's last error handed on in place of the keyring's summary. */
class AwsRecipientKeyring extends KeyringNode {
  constructor(
    private readonly inner: KmsKeyringNode,
    private readonly failure: { error?: unknown },
  ) {
    super();
  }

  override async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    try {
      return await this.inner.onEncrypt(material);
    } catch (err) {
      throw this.failure.error ?? err;
    }
  }

  override async _onDecrypt(material: NodeDecryptionMaterial, edks: EncryptedDataKey[]): Promise<NodeDecryptionMaterial> {
    try {
      return await this.inner.onDecrypt(material, edks);
    } catch (err) {
      throw this.failure.error ?? err;
    }
  }
}

function awsOf(provider: KmsProvider): AwsKmsProvider {
  if (provider instanceof AwsKmsProvider) return provider;
  throw providerError(
    `The ${provider.name} provider given for an AWS KMS recipient is not the AWS KMS provider.`,
    'Use the built-in aws provider.',
    {
      provider: provider.name,
    },
  );
}

/**
 * The keyring's client supplier: the stock keyring asks with the region of an ARN ('' for a key id
 * or alias); a recipient lives in one region, so it gets this region's client either way.
 */
function clientProvider(provider: AwsKmsProvider, region: string, failure: { error?: unknown }, signal?: AbortSignal) {
  const c = provider.keyringClient(region, signal);
  const remember =
    <I, O>(f: (input: I) => Promise<O>) =>
    async (input: I): Promise<O> => {
      try {
        return await f(input);
      } catch (err) {
        failure.error = err;
        throw err;
      }
    };
  const client = { generateDataKey: remember(c.generateDataKey), encrypt: remember(c.encrypt), decrypt: remember(c.decrypt) };
  return () => client as unknown as KMS;
}

export const awsKeyrings: CustomKeyrings = {
  async seal(r, signal) {
    const failure: { error?: unknown } = {};
    // As generator it calls GenerateDataKey; as a further recipient, Encrypt of the same data key.
    const inner = new KmsKeyringNode({
      generatorKeyId: awsKeyParam(r.key),
      clientProvider: clientProvider(awsOf(r.provider), r.region, failure, signal),
    });
    return new AwsRecipientKeyring(inner, failure);
  },
  async unseal(r, signal) {
    const failure: { error?: unknown } = {};
    // keyIds must be the EDK's providerInfo (the key ARN) for the stock keyring to try it.
    const inner = new KmsKeyringNode({ keyIds: [r.keyId], clientProvider: clientProvider(awsOf(r.provider), r.region, failure, signal) });
    return new AwsRecipientKeyring(inner, failure);
  },
};
