/**
 * Keyrings: how a KmsProvider becomes an Encryption SDK keyring, by the keyring kind its descriptor
 * declares (src/core/kms/descriptor.ts `KeyringRules`); no provider is named here.
 *
 * - `kms`: CloudKeyring, one per recipient. _onEncrypt calls GenerateDataKey when the material has
 *   no data key yet (the generator) and Encrypt of the same data key otherwise; _onDecrypt calls
 *   Decrypt for its own EDKs. A seal for n recipients is a stock MultiKeyringNode (generator +
 *   children): one GenerateDataKey + (n-1) Encrypt calls.
 * - `raw-aes` (local): the STOCK RawAesKeyringNode (namespace = providerId, key name = key id) over
 *   the key material the provider hands out, so any Encryption SDK can open those blobs.
 * - `custom` (AWS): the descriptor's own keyrings (the stock AWS KMS keyring).
 * - UnsealKeyring: walks the EDKs in header order, finds the providers that write each one's
 *   providerId (several may share one) and resolves them, and stops at the first that opens
 *   (exactly one Decrypt when the first reachable EDK works). When none works it throws one error
 *   naming every recipient, why it failed and what to do.
 */
// The narrow @aws-crypto packages, not @aws-crypto/client-node: that one also loads the AWS SDK
// (KMS keyring), which tripled process start-up time and added ~25 MB of RSS to every CLI run.
import {
  EncryptedDataKey,
  KeyringNode,
  KeyringTraceFlag,
  MultiKeyringNode,
  unwrapDataKey,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
} from '@aws-crypto/material-management-node';
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/raw-aes-keyring-node';
import {
  CancelledError,
  KmsEnvelopeError,
  hintParts,
  isCancelled,
  providerError,
  renderHint,
  throwIfAborted,
  type ErrorKind,
  type Hint,
} from '../errors';
import type { ProviderDescriptor } from '../kms/descriptor';
import { profileNoun, providerDescriptor, providersForKeyring } from '../kms/registry';
import type { EncryptionContext, KmsProvider } from '../kms/types';
import {
  describeEdk,
  encodeCloudProviderInfo,
  isRawAesKeySource,
  parseProviderInfo,
  recipientLabel,
  type RawAesKeySource,
  type RecipientInfo,
} from './recipients';
import type { ProviderResolver, Recipient } from './types';

/** Prefix of the context keys the Encryption SDK reserves for itself. */
export const RESERVED_CONTEXT_PREFIX = 'aws-crypto-';

/** Sorts by UTF-8 bytes, the order the header serialisation uses. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The user's context, reserved keys dropped, keys sorted: what the KMS sees on both sides. */
export function userContext(ctx: EncryptionContext | undefined): EncryptionContext {
  const out: EncryptionContext = {};
  for (const k of Object.keys(ctx ?? {}).sort(compareUtf8)) if (!k.startsWith(RESERVED_CONTEXT_PREFIX)) out[k] = ctx![k]!;
  return out;
}

/** A private copy of the material's data key; the caller zeroes it. */
function copyDataKey(material: NodeEncryptionMaterial): Buffer {
  const key = material.getUnencryptedDataKey();
  if (key instanceof Uint8Array) return Buffer.from(key);
  const exported = unwrapDataKey(key); // KeyObject.export() returns a fresh copy
  const copy = Buffer.from(exported);
  exported.fill(0);
  return copy;
}

/** Sets a data key on material from a provider-owned buffer, then zeroes the provider's buffer. */
function setDataKey(
  material: NodeEncryptionMaterial | NodeDecryptionMaterial,
  plaintext: Buffer,
  trace: { keyNamespace: string; keyName: string; flags: number },
  r: { provider: string; region: string; keyId: string },
): void {
  try {
    if (plaintext.length !== material.suite.keyLengthBytes) {
      throw providerError(
        `${r.provider} returned a ${plaintext.length}-byte data key for ${r.keyId} in ${r.region}; the suite needs ${material.suite.keyLengthBytes} bytes.`,
        'Use a symmetric AES-256 key (key spec SYMMETRIC_DEFAULT / Aliyun_AES_256).',
        { provider: r.provider, region: r.region, keyId: r.keyId },
      );
    }
    // An isolated copy (byteOffset 0, own ArrayBuffer): the material moves it into a KeyObject and zeroes it.
    (material as NodeEncryptionMaterial).setUnencryptedDataKey(new Uint8Array(plaintext), trace);
  } finally {
    plaintext.fill(0);
  }
}

export class CloudKeyring extends KeyringNode {
  private readonly providerId: string;
  constructor(
    private readonly recipient: Recipient,
    private readonly signal?: AbortSignal,
  ) {
    super();
    this.providerId = providerDescriptor(recipient.provider.name).keyring.providerId;
  }

  override async _onEncrypt(material: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    const { provider, region, key } = this.recipient;
    const ctx = userContext(material.encryptionContext);
    const opts = { signal: this.signal };
    throwIfAborted(this.signal);
    const flags = KeyringTraceFlag.WRAPPING_KEY_ENCRYPTED_DATA_KEY | KeyringTraceFlag.WRAPPING_KEY_SIGNED_ENC_CTX;
    if (!material.hasUnencryptedDataKey) {
      const dk = await provider.generateDataKey(region, key, ctx, opts);
      setDataKey(
        material,
        dk.plaintext,
        { keyNamespace: this.providerId, keyName: dk.keyId, flags: KeyringTraceFlag.WRAPPING_KEY_GENERATED_DATA_KEY },
        { provider: provider.name, region, keyId: key },
      );
      return material.addEncryptedDataKey(this.edk(dk.keyId, dk.ciphertext), flags);
    }
    const udk = copyDataKey(material);
    try {
      const r = await provider.encryptDataKey(region, key, udk, ctx, opts);
      return material.addEncryptedDataKey(this.edk(r.keyId, r.ciphertext), flags);
    } finally {
      udk.fill(0);
    }
  }

  override async _onDecrypt(material: NodeDecryptionMaterial, edks: EncryptedDataKey[]): Promise<NodeDecryptionMaterial> {
    const { provider, region } = this.recipient;
    for (const edk of edks) {
      if (material.hasValidKey()) break;
      const r = describeEdk(edk);
      if (edk.providerId !== this.providerId || r.region !== region) continue;
      throwIfAborted(this.signal);
      const out = await provider.decryptDataKey(
        region,
        r.keyId,
        Buffer.from(edk.encryptedDataKey),
        userContext(material.encryptionContext),
        { signal: this.signal },
      );
      const trace = {
        keyNamespace: this.providerId,
        keyName: out.keyId || r.keyId,
        flags: KeyringTraceFlag.WRAPPING_KEY_DECRYPTED_DATA_KEY | KeyringTraceFlag.WRAPPING_KEY_VERIFIED_ENC_CTX,
      };
      setDataKey(material, out.plaintext, trace, { provider: provider.name, region, keyId: r.keyId });
    }
    return material;
  }

  private edk(keyId: string, ciphertext: Buffer): EncryptedDataKey {
    return new EncryptedDataKey({
      providerId: this.providerId,
      providerInfo: encodeCloudProviderInfo(this.recipient.region, keyId),
      encryptedDataKey: new Uint8Array(ciphertext),
    });
  }
}

export const RAW_AES_WRAPPING_SUITE = RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING;

/** The stock raw-AES keyring for one wrapping key. Copies the material (the keyring zeroes its copy). */
export function rawAesKeyring(keyNamespace: string, keyName: string, material: Buffer): RawAesKeyringNode {
  return new RawAesKeyringNode({
    keyName,
    keyNamespace,
    unencryptedMasterKey: new Uint8Array(material),
    wrappingSuite: RAW_AES_WRAPPING_SUITE,
  });
}

/** The raw-AES keyring of a key the provider hands out (keyring kind `raw-aes`). */
async function rawAesKeyringOf(
  d: ProviderDescriptor,
  provider: KmsProvider,
  region: string,
  key: string,
  signal?: AbortSignal,
): Promise<RawAesKeyringNode> {
  if (!isRawAesKeySource(provider)) {
    throw providerError(
      `The ${d.name} provider given cannot hand out raw AES wrapping keys (key ${key}).`,
      `Use the built-in ${d.name} provider.`,
      {
        provider: d.name,
        keyId: key,
      },
    );
  }
  const { keyName, material } = await (provider as RawAesKeySource).rawAesWrappingKey(region, key, { signal });
  try {
    return rawAesKeyring(d.keyring.providerId, keyName, material);
  } finally {
    material.fill(0);
  }
}

/** Builds the seal keyring: a stock multi-keyring whose generator is the first recipient. */
export async function sealKeyring(recipients: Recipient[], signal?: AbortSignal): Promise<KeyringNode> {
  const keyrings: KeyringNode[] = [];
  for (const r of recipients) {
    const d = providerDescriptor(r.provider.name);
    if (d.keyring.custom) keyrings.push(await (await d.keyring.custom.load()).seal(r, signal));
    else if (d.keyring.kind === 'raw-aes') keyrings.push(await rawAesKeyringOf(d, r.provider, r.region, r.key, signal));
    else keyrings.push(new CloudKeyring(r, signal));
  }
  const [generator, ...children] = keyrings;
  return children.length ? new MultiKeyringNode({ generator, children }) : generator!;
}

interface Failure {
  recipient: RecipientInfo;
  reason: string;
  kind: ErrorKind;
  hint?: Hint;
  error?: unknown;
  /** No provider of this kind is set up here (no profile): not worth reporting when another was tried. */
  notSetUp?: boolean;
}

/** What to do when no provider of this kind is set up on this machine. */
function setUpHint(d: ProviderDescriptor): Hint {
  return d.credentials
    ? [`add a ${d.vendor} profile (`, { action: 'addProfile', provider: d.name }, ')']
    : [`import the ${d.name} key (`, { action: 'importKey', provider: d.name }, ')'];
}

/** Decrypt-only keyring that finds, per EDK, a provider through the resolver. */
export class UnsealKeyring extends KeyringNode {
  constructor(
    private readonly resolve: ProviderResolver,
    private readonly signal?: AbortSignal,
  ) {
    super();
  }

  override async _onEncrypt(): Promise<NodeEncryptionMaterial> {
    throw new Error('UnsealKeyring only decrypts.');
  }

  override async _onDecrypt(material: NodeDecryptionMaterial, edks: EncryptedDataKey[]): Promise<NodeDecryptionMaterial> {
    const failures: Failure[] = [];
    const providers = new Map<string, Promise<KmsProvider | undefined>>();
    for (const edk of edks) {
      throwIfAborted(this.signal);
      const recipient = describeEdk(edk);
      const candidates = providersForKeyring(edk.providerId);
      if (!candidates.length) {
        failures.push({
          recipient,
          kind: 'format',
          reason: `unknown provider id "${edk.providerId}" (sealed by another tool, or the blob was modified)`,
        });
        continue;
      }
      const mine: Failure[] = [];
      for (const d of candidates) {
        await this.tryOne(d, edk, material, providers, mine);
        if (material.hasValidKey()) return material;
      }
      // Providers sharing a providerId (Alibaba's public gateway and a KMS 3.0 instance): one that is
      // not set up here is noise when another one was tried.
      const tried = mine.filter((f) => !f.notSetUp);
      failures.push(...(tried.length ? tried : mine));
    }
    throw noRecipientError(failures);
  }

  /** Tries one provider on one EDK; a failure is recorded, never thrown (cancellation is). */
  private async tryOne(
    d: ProviderDescriptor,
    edk: EncryptedDataKey,
    material: NodeDecryptionMaterial,
    providers: Map<string, Promise<KmsProvider | undefined>>,
    failures: Failure[],
  ): Promise<void> {
    const at = parseProviderInfo(d, edk);
    const recipient: RecipientInfo = { ...describeEdk(edk), provider: d.name, ...(at ?? {}) };
    if (!at || !at.region || !at.keyId) {
      failures.push({ recipient, kind: 'format', reason: 'malformed key information in the header (the blob was modified)' });
      return;
    }
    try {
      const key = `${d.name}\u0000${at.region}`;
      if (!providers.has(key)) providers.set(key, this.resolve(d.name, at.region));
      const provider = await providers.get(key);
      if (!provider) {
        const where = d.credentials
          ? `no ${profileNoun(d.name)} on this machine can reach region ${at.region}`
          : `this machine has no ${d.name} provider`;
        failures.push({ recipient, kind: 'credentials', reason: where, hint: setUpHint(d), notSetUp: true });
        return;
      }
      if (d.keyring.custom) {
        const keyring = await (await d.keyring.custom.load()).unseal({ provider, region: at.region, keyId: at.keyId }, this.signal);
        await keyring.onDecrypt(material, [edk]);
      } else if (d.keyring.kind === 'raw-aes') {
        await (await rawAesKeyringOf(d, provider, at.region, at.keyId, this.signal)).onDecrypt(material, [edk]);
        if (!material.hasValidKey()) {
          failures.push({
            recipient,
            kind: 'format',
            reason: `${d.name} key "${at.keyId}" could not unwrap the data key: its key material differs from the one that sealed the blob, or the blob was modified`,
            hint: [`import the right key material for "${at.keyId}" (`, { action: 'importKey', provider: d.name, keyId: at.keyId }, ')'],
          });
        }
      } else {
        await new CloudKeyring({ provider, region: at.region, key: at.keyId }, this.signal).onDecrypt(material, [edk]);
      }
    } catch (err) {
      if (isCancelled(err) || this.signal?.aborted) throw err instanceof CancelledError ? err : new CancelledError();
      const e = err instanceof KmsEnvelopeError ? err : undefined;
      failures.push({
        recipient,
        kind: e?.kind ?? 'provider',
        reason: (err as Error)?.message ?? String(err),
        hint: e?.hintParts,
        error: err,
      });
    }
  }
}

function noRecipientError(failures: Failure[]): KmsEnvelopeError {
  const only = failures.length === 1 ? failures[0]!.error : undefined;
  if (only instanceof KmsEnvelopeError && (only.kind === 'provider' || only.kind === 'credentials')) return only;
  const byKind = (k: ErrorKind) => failures.find((f) => f.kind === k);
  const lead = byKind('provider') ?? byKind('credentials') ?? failures[0];
  const kind: ErrorKind = lead?.kind === 'provider' || lead?.kind === 'credentials' ? lead.kind : 'format';
  const lines = failures.map((f) => `  - ${recipientLabel(f.recipient)}: ${f.reason}`);
  // Each distinct next step once (by its plain words), its intents kept for the front door.
  const seen = new Set<string>();
  const hints = failures.flatMap((f) => {
    const plain = renderHint(f.hint);
    if (!plain || seen.has(plain)) return [];
    seen.add(plain);
    return [hintParts(f.hint)];
  });
  const leadErr = lead?.error instanceof KmsEnvelopeError ? lead.error : undefined;
  return new KmsEnvelopeError(kind, `No recipient of this blob could be opened here:\n${lines.join('\n')}`, {
    hint: hints.length
      ? ['Then retry: ', ...hints.flatMap((h, i) => [...(i ? ['; or '] : []), ...h]), '.']
      : 'The blob was sealed for keys this machine does not have, or it was modified.',
    details:
      leadErr?.details ?? (lead ? { provider: lead.recipient.provider, region: lead.recipient.region, keyId: lead.recipient.keyId } : {}),
    cause: lead?.error,
  });
}
