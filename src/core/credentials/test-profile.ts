/**
 * "Test profile": resolve a profile, read its secret, and call the provider's region list with it.
 * Shared by `kms-envelope profiles test` and the extension's Test Profile / Add Profile commands.
 */
import type { Logger } from '../log';
import type { CredentialsProvider, Env, KmsProvider, ProviderName } from '../kms/types';
import type { CreateProvider } from '../kms/registry';
import type { CredentialService } from './service';
import type { ProfileInfo } from './types';

/** The shape of createProvider in src/core/kms/registry.ts (credentials handed in). */
export type CreateProviderFn = CreateProvider;

export interface ProfileTestResult {
  ok: boolean;
  profile?: ProfileInfo;
  regions?: string[];
  error?: unknown;
}

/** Resolves the profile and calls the provider's region list with it. Shared with the extension. */
export async function testProfile(
  service: CredentialService,
  create: CreateProviderFn,
  provider: ProviderName,
  name: string | undefined,
  opts: { logger?: Logger; env?: Env; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ProfileTestResult> {
  let profile: ProfileInfo | undefined;
  let kms: KmsProvider | undefined;
  try {
    const r = await service.resolve(provider, name);
    profile = r.profile;
    await r.credentials(); // a missing / expired secret is a credentials error before any network call
    kms = await create(provider, {
      profile: r.profile.name,
      endpoint: r.profile.endpoint,
      region: r.profile.regions?.[0],
      credentials: r.credentials,
      settings: r.profile.settings,
      logger: opts.logger,
      env: opts.env,
    });
    const signals = [AbortSignal.timeout(opts.timeoutMs ?? 30_000), ...(opts.signal ? [opts.signal] : [])];
    const regions = await kms.listRegions({ signal: AbortSignal.any(signals) });
    return { ok: true, profile, regions };
  } catch (error) {
    return { ok: false, profile, error };
  } finally {
    (kms as { dispose?: () => void } | undefined)?.dispose?.();
  }
}

/**
 * Tests credentials that are not stored yet (the extension's Add Profile tests before saving):
 * builds the provider with them and calls the region list.
 */
export async function testCredentials(
  create: CreateProviderFn,
  provider: ProviderName,
  profile: { name: string; endpoint?: string; regions?: string[]; settings?: Record<string, string> },
  credentials: CredentialsProvider,
  opts: { logger?: Logger; env?: Env; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<{ ok: boolean; regions?: string[]; error?: unknown }> {
  let kms: KmsProvider | undefined;
  try {
    kms = await create(provider, {
      profile: profile.name,
      endpoint: profile.endpoint,
      region: profile.regions?.[0],
      credentials,
      settings: profile.settings,
      logger: opts.logger,
      env: opts.env,
    });
    const signals = [AbortSignal.timeout(opts.timeoutMs ?? 30_000), ...(opts.signal ? [opts.signal] : [])];
    return { ok: true, regions: await kms.listRegions({ signal: AbortSignal.any(signals) }) };
  } catch (error) {
    return { ok: false, error };
  } finally {
    (kms as { dispose?: () => void } | undefined)?.dispose?.();
  }
}
