/**
 * Values the cloud KMS APIs exchange in their own formats: the EncryptionContext string both sides
 * must agree on, the clouds' dates, and their descriptions of a key.
 */
import type { EncryptionContext, KeyMetadata, KeyState, ProviderName } from './types';

/**
 * The EncryptionContext as the KMS receives it: JSON of the map with keys sorted (by UTF-16 code
 * units, like the Encryption SDK sorts its context), no whitespace. Absent when the map is empty.
 * The envelope stores the same map in the blob header, so seal and unseal send identical strings.
 */
export function canonicalContext(ctx: EncryptionContext | undefined): string | undefined {
  if (!ctx) return undefined;
  const keys = Object.keys(ctx).sort();
  if (keys.length === 0) return undefined;
  const o: Record<string, string> = {};
  for (const k of keys) o[k] = String(ctx[k]);
  return JSON.stringify(o);
}

/** Unix seconds (number or numeric string) → ISO 8601; absent for 0/empty. */
export function unixToIso(v: unknown): string | undefined {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isFinite(n) || n <= 0) return undefined;
  return new Date(n * 1000).toISOString();
}

/** A cloud date string → ISO 8601 (passes unknown formats through). */
export function isoDate(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? new Date(t).toISOString() : v;
}

/** A key as the clouds describe it, in the field names Alibaba and AWS share (Tencent's ResourceId is its Arn). */
export interface WireKey {
  KeyId?: string;
  Arn?: string;
  Description?: string;
  KeyState?: string;
  KeyUsage?: string;
  KeySpec?: string;
  Origin?: string;
}

/**
 * KeyMetadata from a cloud's description of a key: empty strings left out, the state mapped through
 * `states` (`Unknown` for one this build does not know); `own` holds what each cloud says its own way.
 */
export function keyMetadata(
  provider: ProviderName,
  region: string,
  m: WireKey,
  states: Record<string, KeyState>,
  own: Pick<KeyMetadata, 'alias' | 'createdAt' | 'deletionDate' | 'rotationEnabled' | 'instanceId'>,
): KeyMetadata {
  const k: KeyMetadata = {
    provider,
    region,
    keyId: m.KeyId ?? '',
    alias: own.alias,
    arn: m.Arn || undefined,
    description: m.Description || undefined,
    state: (m.KeyState && states[m.KeyState]) || 'Unknown',
    createdAt: own.createdAt,
    deletionDate: own.deletionDate,
    keyUsage: m.KeyUsage || undefined,
    keySpec: m.KeySpec || undefined,
    origin: m.Origin || undefined,
    rotationEnabled: own.rotationEnabled,
  };
  if ('instanceId' in own) k.instanceId = own.instanceId;
  return k;
}
