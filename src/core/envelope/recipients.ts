/**
 * Who can open a blob: the `providerId` / `providerInfo` of each encrypted data key (EDK).
 *
 * Layouts (documented in the README so other languages can open our blobs):
 *
 * - local (stock raw-AES keyring): providerId `local`, providerInfo is the raw-AES keyring's own
 *   layout: UTF-8 key name, uint32 BE tag length in bits (128), uint32 BE IV length (12), the
 *   12-byte IV. The key name is the local key id. Region is always `local`.
 * - cloud KMS (tencent-kms, alibaba-kms): providerInfo is UTF-8 `<region>/<keyId>`, split at the
 *   FIRST `/` (region names never contain `/`; key ids may). keyId is the id the KMS resolved,
 *   never an alias, so the EDK keeps working after an alias moves.
 * - aws-kms (stock AWS KMS keyring): providerInfo is the key ARN; region is its 4th `:` field.
 */
import type { ProviderName } from '../kms/types';
import { KEYRING_PROVIDER_IDS } from '../kms/types';

/** Region reported for, and passed to the resolver for, local EDKs. */
export const LOCAL_REGION = 'local';
/** Namespace (= EDK providerId) of the stock RawAesKeyringNode used for local keys. */
export const LOCAL_KEY_NAMESPACE = KEYRING_PROVIDER_IDS.local;

export interface RecipientInfo {
  /** The EDK's providerId as written in the header. */
  providerId: string;
  /** Our provider name, when the providerId is one we know. */
  provider?: ProviderName;
  region: string;
  keyId: string;
}

/**
 * A provider that hands out raw AES-256 wrapping keys (the local provider). Its blobs are made and
 * opened with the stock RawAesKeyringNode (namespace `local`, key name = key id), so any Encryption
 * SDK opens them given the key material.
 */
export interface RawAesKeySource {
  /** Throws the provider's error if the key is disabled, pending deletion or unknown. */
  rawAesWrappingKey(region: string, keyIdOrAlias: string, opts?: { signal?: AbortSignal }): Promise<{ keyName: string; material: Buffer }>;
}

export function isRawAesKeySource(p: unknown): p is RawAesKeySource {
  return typeof (p as { rawAesWrappingKey?: unknown } | undefined)?.rawAesWrappingKey === 'function';
}

/** Reverse of KEYRING_PROVIDER_IDS. */
export function providerNameFor(providerId: string): ProviderName | undefined {
  for (const [name, id] of Object.entries(KEYRING_PROVIDER_IDS)) if (id === providerId) return name as ProviderName;
  return undefined;
}

const RAW_AES_TAIL = 4 + 4 + 12;

export function encodeCloudProviderInfo(region: string, keyId: string): string {
  return `${region}/${keyId}`;
}

type EdkLike = { providerId: string; providerInfo: string; rawInfo?: Uint8Array };

const rawOf = (edk: EdkLike) => (edk.rawInfo ? Buffer.from(edk.rawInfo) : Buffer.from(edk.providerInfo, 'utf8'));

/** Key name of a raw-AES (local) EDK, or undefined when its providerInfo is not the raw-AES layout. */
export function rawAesKeyName(edk: EdkLike): string | undefined {
  const raw = rawOf(edk);
  const ok = raw.length > RAW_AES_TAIL && raw.readUInt32BE(raw.length - 20) === 128 && raw.readUInt32BE(raw.length - 16) === 12;
  return ok ? raw.subarray(0, raw.length - RAW_AES_TAIL).toString('utf8') : undefined;
}

/** Reads region and key id from an EDK's providerId / providerInfo (raw bytes when available). */
export function describeEdk(edk: EdkLike): RecipientInfo {
  const { providerId } = edk;
  const provider = providerNameFor(providerId);
  const raw = rawOf(edk);
  if (provider === 'local') return { providerId, provider, region: LOCAL_REGION, keyId: rawAesKeyName(edk) ?? printable(raw) };
  const text = raw.toString('utf8');
  if (provider === 'aws') return { providerId, provider, region: text.split(':')[3] ?? '', keyId: text };
  if (provider) {
    const slash = text.indexOf('/');
    return slash > 0
      ? { providerId, provider, region: text.slice(0, slash), keyId: text.slice(slash + 1) }
      : { providerId, provider, region: '', keyId: text };
  }
  return { providerId, region: '', keyId: printable(raw) };
}

function printable(b: Buffer): string {
  const s = b.toString('utf8');
  return /^[\x20-\x7e]*$/.test(s) ? s : `0x${b.toString('hex')}`;
}

/** "tencent ap-guangzhou key-1" — how a recipient is named in messages. */
export function recipientLabel(r: { provider?: string; providerId?: string; region: string; keyId: string }): string {
  return `${r.provider ?? r.providerId}:${r.region}:${r.keyId}`;
}
