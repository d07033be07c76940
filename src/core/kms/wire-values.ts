/**
 * Values the cloud KMS APIs exchange in their own formats: the EncryptionContext string both sides
 * must agree on, and the clouds' dates.
 */
import type { EncryptionContext } from './types';

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
