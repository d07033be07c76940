import type { ProviderName } from '../kms/types';

/**
 * Secret part of a cloud profile. Lives only in memory and in the OS keychain
 * (never in settings, logs, files or argv).
 * Tencent: accessKeyId = SecretId, accessKeySecret = SecretKey, securityToken = session token.
 * Alibaba: AccessKeyId / AccessKeySecret / SecurityToken.
 */
export interface CloudCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  /** ISO 8601 expiry of a temporary (STS) key. */
  expiration?: string;
}

/** Where a profile came from. */
export type ProfileSource = 'keychain' | 'env' | 'tccli' | 'aliyun-cli' | 'emulator';

/** A profile's non-secret part: safe to show, store in settings and print with --json. */
export interface ProfileInfo {
  provider: ProviderName;
  name: string;
  /** Regions to show / use by default; empty or absent = all the provider lists. */
  regions?: string[];
  /** Endpoint override: a private endpoint or the emulator (`http://127.0.0.1:PORT`). */
  endpoint?: string;
  kind: 'long-term' | 'sts';
  source: ProfileSource;
  /** Masked key id for display, e.g. `AKID…MPLE`. Never the secret. */
  keyIdHint?: string;
  /** For STS keys. */
  expiration?: string;
}

/** Function form so a rotated secret is picked up on the next call. */
export type CredentialsProvider = () => Promise<CloudCredentials>;

/** Masks an access key id for display: first 4 and last 4 characters. */
export function maskKeyId(id: string): string {
  return id.length <= 8 ? '…' : `${id.slice(0, 4)}…${id.slice(-4)}`;
}
