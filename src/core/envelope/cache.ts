/**
 * One data key for the values of ONE bulk operation: several selections sealed at once, or a text with
 * many armored values unsealed at once. The Encryption SDK's caching materials manager over a local
 * cache made for that operation and dropped with it, so N standalone values cost one GenerateDataKey
 * (+1 Encrypt per further recipient) to seal and one Decrypt to unseal instead of N. Each value is still
 * its own message (its own message id, so its own derived key), as the ESDK intends for cached keys.
 *
 * Scope and limits (BULK_CACHE_LIMITS): the cache is never shared across operations, files, front doors
 * or users (a new one, with a random partition, per operation); an entry lives at most 60 s, serves at
 * most 1,000 messages and 1 MiB of plaintext, and at most 16 entries (one per context) are kept. Past a
 * limit the next value gets a new data key.
 */
import { NodeDefaultCryptographicMaterialsManager, type NodeMaterialsManager } from '@aws-crypto/material-management-node';
import { NodeCachingMaterialsManager, getLocalCryptographicMaterialsCache } from '@aws-crypto/caching-materials-manager-node';
import { randomBytes } from 'node:crypto';
import { UnsealKeyring, sealKeyring } from './keyrings';
import type { ProviderResolver, Recipient } from './types';

export const BULK_CACHE_LIMITS = {
  /** Milliseconds a data key is reused. */
  maxAge: 60_000,
  /** Messages (values) sealed under one data key. */
  maxMessagesEncrypted: 1_000,
  /** Plaintext bytes sealed under one data key. */
  maxBytesEncrypted: 1024 * 1024,
  /** Entries the operation's cache holds (one per distinct context, or per header on unseal). */
  capacity: 16,
} as const;

function caching(backing: NodeMaterialsManager): NodeCachingMaterialsManager {
  const { capacity, ...limits } = BULK_CACHE_LIMITS;
  return new NodeCachingMaterialsManager({
    backingMaterials: backing,
    cache: getLocalCryptographicMaterialsCache(capacity),
    partition: randomBytes(32).toString('base64'),
    ...limits,
  });
}

/** Materials for sealing many values to the same recipients in one operation (SealOptions.materials). */
export async function bulkSealMaterials(recipients: Recipient[], signal?: AbortSignal): Promise<NodeMaterialsManager> {
  return caching(new NodeDefaultCryptographicMaterialsManager(await sealKeyring(recipients, signal)));
}

/** Materials for unsealing many values in one operation (UnsealOptions.materials): one Decrypt per distinct set of recipients. */
export function bulkUnsealMaterials(resolve: ProviderResolver, signal?: AbortSignal): NodeMaterialsManager {
  return caching(new NodeDefaultCryptographicMaterialsManager(new UnsealKeyring(resolve, signal)));
}
