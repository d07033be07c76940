/**
 * Who can open a blob: the `providerId` / `providerInfo` of each encrypted data key (EDK), read
 * through the registry (which providers write that providerId) and their descriptors' keyring
 * rules. No provider is named here.
 *
 * Layouts (documented in the README so other languages can open our blobs), per keyring kind:
 *
 * - `kms` (tencent-kms, alibaba-kms): providerInfo is UTF-8 `<region>/<keyId>`, split at the FIRST
 *   `/` (region names never contain `/`; key ids may). keyId is the id the KMS resolved, never an
 *   alias, so the EDK keeps working after an alias moves.
 * - `raw-aes` (local, the stock raw-AES keyring): providerInfo is the raw-AES keyring's own layout:
 *   UTF-8 key name, uint32 BE tag length in bits (128), uint32 BE IV length (12), the 12-byte IV.
 *   The key name is the key id; the region is the provider's one fixed region.
 * - `custom` (the stock AWS KMS keyring, providerInfo = key ARN): the descriptor reads it.
 */
import type { ProviderDescriptor } from '../kms/descriptor';
import { providersForKeyring } from '../kms/registry';
import type { ProviderName } from '../kms/types';

export interface RecipientInfo {
  /** The EDK's providerId as written in the header. */
  providerId: string;
  /** Our provider name (the first registered for that providerId), when the providerId is one we know. */
  provider?: ProviderName;
  region: string;
  keyId: string;
}

/**
 * A provider that hands out raw AES-256 wrapping keys (the local provider). Its blobs are made and
 * opened with the stock RawAesKeyringNode (namespace = its providerId, key name = key id), so any
 * Encryption SDK opens them given the key material.
 */
export interface RawAesKeySource {
  /** Throws the provider's error if the key is disabled, pending deletion or unknown. */
  rawAesWrappingKey(region: string, keyIdOrAlias: string, opts?: { signal?: AbortSignal }): Promise<{ keyName: string; material: Buffer }>;
}

export function isRawAesKeySource(p: unknown): p is RawAesKeySource {
  return typeof (p as { rawAesWrappingKey?: unknown } | undefined)?.rawAesWrappingKey === 'function';
}

const RAW_AES_TAIL = 4 + 4 + 12;

export function encodeCloudProviderInfo(region: string, keyId: string): string {
  return `${region}/${keyId}`;
}

type EdkLike = { providerId: string; providerInfo: string; rawInfo?: Uint8Array };

const rawOf = (edk: EdkLike) => (edk.rawInfo ? Buffer.from(edk.rawInfo) : Buffer.from(edk.providerInfo, 'utf8'));

/** Key name of a raw-AES EDK, or undefined when its providerInfo is not the raw-AES layout. */
export function rawAesKeyName(edk: EdkLike): string | undefined {
  const raw = rawOf(edk);
  const ok = raw.length > RAW_AES_TAIL && raw.readUInt32BE(raw.length - 20) === 128 && raw.readUInt32BE(raw.length - 16) === 12;
  return ok ? raw.subarray(0, raw.length - RAW_AES_TAIL).toString('utf8') : undefined;
}

/** Region and key id an EDK names for one provider, per its keyring kind; undefined when malformed. */
export function parseProviderInfo(d: ProviderDescriptor, edk: EdkLike): { region: string; keyId: string } | undefined {
  if (d.keyring.custom) return d.keyring.custom.parseInfo(rawOf(edk));
  if (d.keyring.kind === 'raw-aes') {
    const keyId = rawAesKeyName(edk);
    return keyId === undefined ? undefined : { region: d.regions.fixed?.[0] ?? '', keyId };
  }
  const text = rawOf(edk).toString('utf8');
  const slash = text.indexOf('/');
  return slash > 0 && slash < text.length - 1 ? { region: text.slice(0, slash), keyId: text.slice(slash + 1) } : undefined;
}

/** Reads provider, region and key id from an EDK's providerId / providerInfo (raw bytes when available). */
export function describeEdk(edk: EdkLike): RecipientInfo {
  const { providerId } = edk;
  const d = providersForKeyring(providerId)[0];
  const raw = rawOf(edk);
  if (!d) return { providerId, region: '', keyId: printable(raw) };
  const parsed = parseProviderInfo(d, edk);
  if (parsed) return { providerId, provider: d.name, ...parsed };
  // Malformed: show what is there (unseal reports it as modified).
  if (d.keyring.kind === 'raw-aes') return { providerId, provider: d.name, region: d.regions.fixed?.[0] ?? '', keyId: printable(raw) };
  const text = raw.toString('utf8');
  const slash = text.indexOf('/');
  return slash > 0
    ? { providerId, provider: d.name, region: text.slice(0, slash), keyId: text.slice(slash + 1) }
    : { providerId, provider: d.name, region: '', keyId: text };
}

function printable(b: Buffer): string {
  const s = b.toString('utf8');
  return /^[\x20-\x7e]*$/.test(s) ? s : `0x${b.toString('hex')}`;
}

/** "tencent:ap-guangzhou:key-1" — how a recipient is named in messages. */
export function recipientLabel(r: { provider?: string; providerId?: string; region: string; keyId: string }): string {
  return `${r.provider ?? r.providerId}:${r.region}:${r.keyId}`;
}
